package shipgate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The chain rule (see ComputeHash) written for speed: verifying a long
// chain is hashing plus these appends, so they neither allocate nor go
// through reflection. Each has a slow path that is the plain definition
// (json.Marshal, time.AppendFormat), taken whenever the fast one could
// differ from it by a byte; TestAuditHashMatchesReference and
// FuzzAuditHash hold the two to the same output.

// appendHashInput appends PrevHash followed by the canonical JSON object
// {"seq","at","actor","action","subject","details"} to b.
func (e *AuditEvent) appendHashInput(b []byte) []byte {
	b = append(b, e.PrevHash...)
	b = e.appendFields(b, appendAuditTime)
	b = append(b, e.Details...)
	return append(b, '}')
}

// appendFields appends the fields an event's hash input and its JSON line
// share, up to the details' value: {"seq","at","actor","action","subject",
// then "details": — the time as appendTime writes it.
func (e *AuditEvent) appendFields(b []byte, appendTime func([]byte, time.Time) []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"at":"`...)
	b = appendTime(b, e.At)
	b = append(b, `","actor":`...)
	b = appendJSONString(b, e.Actor)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, e.Action)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, e.Subject)
	return append(b, `,"details":`...)
}

// hashMatches recomputes e's hash into the verifier's buffer and compares
// it with e.Hash, without allocating.
func (v *AuditVerifier) hashMatches(e *AuditEvent) (bool, error) {
	if !json.Valid(e.Details) {
		return false, fmt.Errorf("details are not valid JSON")
	}
	v.buf = e.appendHashInput(v.buf[:0])
	sum := sha256.Sum256(v.buf)
	var hx [sha256.Size * 2]byte
	hex.Encode(hx[:], sum[:])
	return string(hx[:]) == e.Hash, nil
}

// auditTimeLayout is how the chain hashes a time: UTC, microseconds.
const auditTimeLayout = "2006-01-02T15:04:05.000000Z"

// appendAuditTime appends t as auditTimeLayout does: UTC, the fraction
// truncated to microseconds. Years outside 0–9999 take the layout itself.
func appendAuditTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, auditTimeLayout)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends the non-negative n zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [8]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

// appendJSONString appends s as json.Marshal encodes it. Printable ASCII
// other than the characters json.Marshal escapes (" \ < > &) is copied;
// anything else goes through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSON appends e as one line of JSON, the form json.Marshal gives an
// event whose details are canonical (as every stored event's are), without
// reflection: a stream of the whole log is mostly this. Details are copied
// as stored, byte for byte, so the reader hashes exactly what the store
// holds; the one exception is a line break, which cannot appear in
// canonical JSON and would split the line, and is sent as a space (the
// event then fails verification, as a changed event should).
func (e *AuditEvent) AppendJSON(b []byte) []byte {
	b = e.appendFields(b, appendRFC3339Nano)
	if len(e.Details) == 0 {
		b = append(b, "null"...)
	} else {
		start := len(b)
		b = append(b, e.Details...)
		for i := start; i < len(b); i++ {
			if b[i] == '\n' || b[i] == '\r' {
				b[i] = ' '
			}
		}
	}
	b = append(b, `,"prev_hash":`...)
	b = appendJSONString(b, e.PrevHash)
	b = append(b, `,"hash":`...)
	b = appendJSONString(b, e.Hash)
	return append(b, '}')
}

// appendRFC3339Nano appends t in UTC as time.RFC3339Nano does (the form
// json.Marshal gives a time), quickly for whole microseconds.
func appendRFC3339Nano(b []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 || t.Nanosecond()%1000 != 0 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	b = appendAuditTime(b, t) // …05.123400Z
	b = b[:len(b)-1]
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return append(b, 'Z')
}

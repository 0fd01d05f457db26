package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/shipgate/shipgate"
)

// auditLineDecoder decodes the event lines of the audit stream into a
// reused event. Lines in exactly the form the server writes
// (AuditEvent.AppendJSON) with plain ASCII text take a fast path that
// gives the same event json.Unmarshal would; anything else — escapes,
// other characters, another key order — takes json.Unmarshal itself.
type auditLineDecoder struct {
	names    map[string]string // actor, action and subject strings seen, reused
	lastHash string
}

func (d *auditLineDecoder) decode(line []byte, e *shipgate.AuditEvent) error {
	if d.fast(line, e) {
		return nil
	}
	details := e.Details[:0]
	*e = shipgate.AuditEvent{Details: details}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(e); err != nil {
		return err
	}
	if e.Seq == 0 || e.Hash == "" {
		return fmt.Errorf("not an event: %q", clipLine(line))
	}
	d.lastHash = e.Hash
	return nil
}

// hashesLen is the tail of an event line: ,"prev_hash":"<64>","hash":"<64>"}
const hashesLen = len(`,"prev_hash":"`) + 64 + len(`","hash":"`) + 64 + len(`"}`)

func (d *auditLineDecoder) fast(line []byte, e *shipgate.AuditEvent) bool {
	rest, ok := bytes.CutPrefix(line, []byte(`{"seq":`))
	if !ok {
		return false
	}
	i := bytes.IndexByte(rest, ',')
	if i <= 0 {
		return false
	}
	seq, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil || rest[0] == '0' || rest[0] == '-' {
		return false
	}
	var at, actor, action, subject []byte
	if at, rest, ok = plainString(rest[i:], `,"at":"`); !ok {
		return false
	}
	t, ok := parseUTC(at)
	if !ok {
		return false
	}
	if actor, rest, ok = plainString(rest, `,"actor":"`); !ok {
		return false
	}
	if action, rest, ok = plainString(rest, `,"action":"`); !ok {
		return false
	}
	if subject, rest, ok = plainString(rest, `,"subject":"`); !ok {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"details":`)); !ok || len(rest) < hashesLen+1 {
		return false
	}
	details, tail := rest[:len(rest)-hashesLen], rest[len(rest)-hashesLen:]
	prev, tail, ok := plainString(tail, `,"prev_hash":"`)
	if !ok || len(prev) != 64 || !isHex(prev) {
		return false
	}
	hash, tail, ok := plainString(tail, `,"hash":"`)
	if !ok || len(hash) != 64 || !isHex(hash) || string(tail) != "}" {
		return false
	}
	e.Seq, e.At = seq, t
	e.Actor, e.Action, e.Subject = d.name(actor), d.name(action), d.name(subject)
	e.Details = append(e.Details[:0], details...)
	if string(prev) == d.lastHash {
		e.PrevHash = d.lastHash
	} else {
		e.PrevHash = string(prev)
	}
	e.Hash = string(hash)
	d.lastHash = e.Hash
	return true
}

// plainString cuts prefix (ending in an opening quote) and a string of
// printable ASCII without escapes up to its closing quote.
func plainString(b []byte, prefix string) (s, rest []byte, ok bool) {
	b, ok = bytes.CutPrefix(b, []byte(prefix))
	if !ok {
		return nil, nil, false
	}
	for i, c := range b {
		switch {
		case c == '"':
			return b[:i], b[i+1:], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, nil, false
		}
	}
	return nil, nil, false
}

func (d *auditLineDecoder) name(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	if d.names == nil || len(d.names) >= 4096 {
		d.names = make(map[string]string)
	}
	s := string(b)
	d.names[s] = s
	return s
}

func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseUTC parses YYYY-MM-DDTHH:MM:SS[.fraction]Z as time.Parse with
// time.RFC3339 does, for the times it accepts; false sends the line to the
// slow path.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	min, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			n *= 10
		}
		nsec = n
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, time.UTC)
	if t.Day() != day { // 31 April, 29 February of a common year
		return time.Time{}, false
	}
	return t, true
}

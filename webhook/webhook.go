package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Header is the request header that carries the signature.
const Header = "X-Shipgate-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance: long enough for
// retries in flight and clock skew, short enough to make replays useless.
const DefaultTolerance = 5 * time.Minute

// Errors Verify wraps, for receivers that answer differently (say, log a
// stale timestamp as clock skew). Every refusal is one of them.
var (
	// ErrMalformed: the header is not t=<seconds> once and v1=<hex> at
	// least once, separated by commas.
	ErrMalformed = errors.New("malformed signature header")
	// ErrTimestamp: t is further than the tolerance from now.
	ErrTimestamp = errors.New("signature timestamp outside tolerance")
	// ErrNoMatch: no v1 is the HMAC of the body with any of the secrets.
	ErrNoMatch = errors.New("signature does not match")
	// ErrNoSecret: Verify was given no usable secret, or Sign an empty one.
	ErrNoSecret = errors.New("no secret to verify with")
	// ErrTooManySecrets: Sign was given more than MaxSecrets secrets.
	ErrTooManySecrets = errors.New("too many secrets")
)

// MaxSecrets is the most secrets one sender signs with, and so the most v1
// values Parse accepts in one header. Rotating a secret needs two (the new
// and the old one); four leaves room for a second rotation started before
// every receiver finished the first, while keeping the header short and
// the work of Verify (every secret against every v1) small. Sign, Parse
// and the server's configuration (secrets_env) all use this one number, so
// a sender never makes a header its receivers refuse.
const MaxSecrets = 4

// Sign makes the signature header of body at time at: one v1 per secret,
// in the order given. With no secret it returns "" (send no header). An
// empty secret (ErrNoSecret) or more than MaxSecrets (ErrTooManySecrets)
// is refused: receivers would refuse the header, or anyone could forge it.
func Sign(at time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", nil
	}
	if len(secrets) > MaxSecrets {
		return "", fmt.Errorf("%w: %d secrets given; a header carries at most %d v1 values (webhook.MaxSecrets)", ErrTooManySecrets, len(secrets), MaxSecrets)
	}
	if slices.Contains(secrets, "") {
		return "", fmt.Errorf("%w: an empty secret signs nothing (anyone can compute its MAC)", ErrNoSecret)
	}
	t := strconv.FormatInt(at.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + t)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, t, body)))
	}
	return b.String(), nil
}

func mac(secret, t string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Signature is a parsed signature header.
type Signature struct {
	// Timestamp is t, in unix seconds as sent.
	Timestamp int64
	// V1 are the decoded v1 values, in header order.
	V1 [][]byte
}

// Parse reads a signature header. Parts are comma-separated key=value
// pairs in any order, with optional spaces around them; t must appear
// exactly once as decimal seconds, v1 at least once (at most MaxSecrets
// times) as 64 hex digits. Empty parts (a trailing comma) and parts of
// other keys, with or without "=", are skipped, so a future scheme can be
// added next to v1 without breaking receivers.
func Parse(header string) (Signature, error) {
	var sig Signature
	seenT := false
	if strings.TrimSpace(header) == "" {
		return sig, fmt.Errorf("%w: the header is empty", ErrMalformed)
	}
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "t":
			if seenT {
				return sig, fmt.Errorf("%w: t appears more than once", ErrMalformed)
			}
			seenT = true
			if v == "" {
				return sig, fmt.Errorf("%w: t has no value", ErrMalformed)
			}
			if len(v) > 19 || strings.Trim(v, "0123456789") != "" {
				return sig, fmt.Errorf("%w: t is not a number of seconds", ErrMalformed)
			}
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return sig, fmt.Errorf("%w: t is not a number of seconds", ErrMalformed)
			}
			sig.Timestamp = ts
		case "v1":
			if len(sig.V1) == MaxSecrets {
				return sig, fmt.Errorf("%w: more than %d v1 values", ErrMalformed, MaxSecrets)
			}
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return sig, fmt.Errorf("%w: v1 is not %d hex digits", ErrMalformed, 2*sha256.Size)
			}
			sig.V1 = append(sig.V1, b)
		}
	}
	if !seenT {
		return sig, fmt.Errorf("%w: no t", ErrMalformed)
	}
	if len(sig.V1) == 0 {
		return sig, fmt.Errorf("%w: no v1", ErrMalformed)
	}
	return sig, nil
}

// Verify checks the signature header of a request against its raw body.
// It passes when the header is well formed, its t is within tolerance of
// now (DefaultTolerance when tolerance is 0 or less), and some v1 is the
// HMAC of the body under one of secrets — any of them: hold the old and
// the new secret while rotating. Comparisons take constant time. An empty
// secret is refused, never used: anyone can compute a MAC with it.
func Verify(header string, body []byte, now time.Time, tolerance time.Duration, secrets ...string) error {
	usable := 0
	for _, s := range secrets {
		if s != "" {
			usable++
		}
	}
	if usable == 0 {
		return ErrNoSecret
	}
	sig, err := Parse(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now.Sub(time.Unix(sig.Timestamp, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: t is %s from now (tolerance %s)", ErrTimestamp, d.Round(time.Second), tolerance)
	}
	t := strconv.FormatInt(sig.Timestamp, 10)
	match := 0
	for _, s := range secrets {
		if s == "" {
			continue
		}
		want := mac(s, t, body)
		for _, got := range sig.V1 {
			// Every pair is compared, so the time taken says nothing about
			// which one matched.
			match |= subtle.ConstantTimeCompare(want, got)
		}
	}
	if match == 0 {
		return ErrNoMatch
	}
	return nil
}

// Package shipgate is the domain of the shipgate release control plane:
// services and their environments, releases and their approvals, runs and
// jobs, users and roles, and the hash-chained audit log. It holds types,
// validation and pure transition rules, and imports only the standard
// library. Storage, HTTP and execution live in the internal/ subpackages and
// depend on this package, never the other way round.
package shipgate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes as a Go duration string
// ("90s", "10m") in JSON, so service specs stay readable when stored.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "10m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10m\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// maxDays bounds durations given in days, far below where they would
// overflow.
const maxDays = 36500

// ParseDuration parses a Go duration string and additionally accepts a "d"
// suffix for whole days ("7d"), which approval expiries commonly use.
// Negative durations are refused.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n, ok := strings.CutSuffix(s, "d"); ok && !strings.ContainsAny(n, "hmsµun.") {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && fmt.Sprint(days) == n && days >= 0 {
			if days > maxDays {
				return 0, fmt.Errorf("duration %q is longer than %d days", s, maxDays)
			}
			return Duration(time.Duration(days) * 24 * time.Hour), nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use a number with a unit: 90s, 10m, 24h, 7d)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return Duration(v), nil
}

// CanonicalJSON encodes v as canonical JSON: object keys sorted, no
// insignificant whitespace, numbers written as they were given. Digests and
// the audit chain hash this form, so it must be stable across releases of
// shipgate and across round trips through a database.
func CanonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return canonicalize(b)
}

func canonicalize(b []byte) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic)
}

// SHA256Hex returns the lowercase hex sha256 of b.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// IsSHA256Hex reports whether s is 64 lowercase or uppercase hex digits.
func IsSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// validName reports whether s is usable as a name for services, environments,
// jobs, users and groups: 1–63 characters of lowercase letters, digits, '-',
// '_' and '.', starting with a letter or digit.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_' || r == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidateName returns an EINVALID error naming what kind of thing has an
// unusable name, or nil.
func ValidateName(kind, s string) error {
	if !validName(s) {
		return Errorf(EINVALID, "%s name %q is not valid: use 1-63 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit", kind, s)
	}
	return nil
}

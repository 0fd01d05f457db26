package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/webhook"
)

var (
	now  = time.Unix(1_700_000_000, 0)
	body = []byte(`{"specversion":"1.0","id":"shipgate-7"}`)
)

// v1s returns the v1 values of a header Sign made, in order.
func v1s(h string) []string {
	var out []string
	for _, p := range strings.Split(h, ",") {
		if v, ok := strings.CutPrefix(p, "v1="); ok {
			out = append(out, v)
		}
	}
	return out
}

// sign is webhook.Sign for secrets it accepts.
func sign(t testing.TB, at time.Time, secrets ...string) string {
	t.Helper()
	h, err := webhook.Sign(at, body, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSignOneV1PerSecret(t *testing.T) {
	h := sign(t, now, "new", "old")
	if !strings.HasPrefix(h, "t=1700000000,v1=") || len(v1s(h)) != 2 {
		t.Fatalf("header %q", h)
	}
	if sign(t, now) != "" {
		t.Fatal("no secret must mean no header")
	}
	single := sign(t, now, "new")
	if v1s(single)[0] != v1s(h)[0] {
		t.Fatal("the first secret's v1 depends on the others")
	}
}

// Sign and Parse agree on the limit: whatever Sign makes, Verify accepts;
// one secret more than MaxSecrets is refused by Sign rather than sent as a
// header every receiver refuses. An empty secret is refused too: anyone
// can compute a MAC with it.
func TestSignLimits(t *testing.T) {
	secrets := []string{"a", "b", "c", "d", "e", "f"}[:webhook.MaxSecrets]
	h := sign(t, now, secrets...)
	if err := webhook.Verify(h, body, now, time.Minute, secrets[len(secrets)-1]); err != nil {
		t.Fatalf("%d secrets: %v", len(secrets), err)
	}
	more := append(slices.Clone(secrets), "one more")
	if h, err := webhook.Sign(now, body, more...); !errors.Is(err, webhook.ErrTooManySecrets) || h != "" || !strings.Contains(err.Error(), "at most 4") {
		t.Fatalf("%d secrets: %q %v", len(more), h, err)
	}
	if h, err := webhook.Sign(now, body, "s", ""); !errors.Is(err, webhook.ErrNoSecret) || h != "" {
		t.Fatalf("an empty secret: %q %v", h, err)
	}
}

// A sender rotating its secret signs with both; a receiver holding either
// one accepts, and one holding both accepts a sender that has only one.
func TestVerifyRotation(t *testing.T) {
	both := sign(t, now, "new", "old")
	for _, tc := range []struct {
		name    string
		header  string
		secrets []string
	}{
		{"receiver still on the old secret", both, []string{"old"}},
		{"receiver already on the new secret", both, []string{"new"}},
		{"receiver holding both, sender only the new", sign(t, now, "new"), []string{"old", "new"}},
		{"receiver holding both, sender only the old", sign(t, now, "old"), []string{"old", "new"}},
		{"three values, the match last", sign(t, now, "a", "b", "old"), []string{"old"}},
	} {
		if err := webhook.Verify(tc.header, body, now, time.Minute, tc.secrets...); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if err := webhook.Verify(both, body, now, time.Minute, "other"); !errors.Is(err, webhook.ErrNoMatch) {
		t.Errorf("a secret neither value was made with: %v", err)
	}
	if err := webhook.Verify(both, append(body, ' '), now, time.Minute, "new", "old"); !errors.Is(err, webhook.ErrNoMatch) {
		t.Errorf("a changed body: %v", err)
	}
}

// The parts may come in any order, with spaces after the commas.
func TestVerifyAnyOrder(t *testing.T) {
	h := sign(t, now, "new", "old")
	v := v1s(h)
	for _, tc := range []struct{ header, secret string }{
		{"v1=" + v[0] + ",t=1700000000", "new"},
		{"v1=" + v[1] + ",t=1700000000,v1=" + v[0], "new"},
		{"v1=" + v[1] + ",t=1700000000,v1=" + v[0], "old"},
		{"v1=" + v[0] + ", v1=" + v[1] + ", t=1700000000", "old"},
		{"t=1700000000,v0=whatever,v1=" + v[1], "old"}, // unknown schemes are skipped
		// Empty parts and unknown keys, with or without "=", are skipped
		// too, as the documented Python recipe does.
		{"t=1700000000,v1=" + v[0] + ",", "new"},
		{"t=1700000000,v1=" + v[0] + ",v2", "new"},
		{",v2,t=1700000000,,v1=" + v[0], "new"},
		{"t=1700000000, ,v1=" + v[0] + ",garbage", "new"},
		{"t=1700000000,=x,v1=" + v[0], "new"},
		{"t=1700000000,v2=,v1=" + v[0], "new"},
	} {
		if err := webhook.Verify(tc.header, body, now, time.Minute, tc.secret); err != nil {
			t.Errorf("%q with %s: %v", tc.header, tc.secret, err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	v := v1s(sign(t, now, "s"))[0]
	for _, tc := range []struct {
		header string
		want   error
		text   string
	}{
		{"", webhook.ErrMalformed, "empty"},
		{"v1=" + v, webhook.ErrMalformed, "no t"},
		{"t=1700000000", webhook.ErrMalformed, "no v1"},
		{"t=1700000000,t=1700000000,v1=" + v, webhook.ErrMalformed, "more than once"},
		{"t=1700000000,t=1,v1=" + v, webhook.ErrMalformed, "more than once"},
		{"t=-1700000000,v1=" + v, webhook.ErrMalformed, "number of seconds"},
		{"t=+1700000000,v1=" + v, webhook.ErrMalformed, "number of seconds"},
		{"t=99999999999999999999,v1=" + v, webhook.ErrMalformed, "number of seconds"},
		{"t=1700000000,v1=" + v[:62], webhook.ErrMalformed, "hex digits"},
		{"t=1700000000,v1=" + strings.Repeat("zz", 32), webhook.ErrMalformed, "hex digits"},
		{",", webhook.ErrMalformed, "no t"},
		{"t,v1=" + v, webhook.ErrMalformed, "t has no value"},
		{"t=,v1=" + v, webhook.ErrMalformed, "t has no value"},
		{"t=1700000000,t,v1=" + v, webhook.ErrMalformed, "more than once"},
		{"t=1700000000,v1=", webhook.ErrMalformed, "hex digits"},
		{"t=1700000000,v1," + "v1=" + v, webhook.ErrMalformed, "hex digits"},
		{"t=1700000000;v1=" + v, webhook.ErrMalformed, "number of seconds"},
		{"t=1700000000,v1=" + strings.Repeat(v+",v1=", webhook.MaxSecrets) + v, webhook.ErrMalformed, "more than 4"},
		{"t=1699999000,v1=" + v1s(sign(t, now.Add(-1000*time.Second), "s"))[0], webhook.ErrTimestamp, "16m40s from now"},
		{"t=1700001000,v1=" + v1s(sign(t, now.Add(1000*time.Second), "s"))[0], webhook.ErrTimestamp, "-16m40s from now"},
		{"t=1700000001,v1=" + v, webhook.ErrNoMatch, "does not match"}, // t is signed too
	} {
		err := webhook.Verify(tc.header, body, now, time.Minute, "s")
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%q: %v, want %v with %q", tc.header, err, tc.want, tc.text)
		}
	}
	h := sign(t, now, "s")
	if err := webhook.Verify(h, body, now, time.Minute); !errors.Is(err, webhook.ErrNoSecret) {
		t.Errorf("no secret: %v", err)
	}
	if err := webhook.Verify(h, body, now, time.Minute, ""); !errors.Is(err, webhook.ErrNoSecret) {
		t.Errorf("empty secret: %v", err)
	}
	// An empty secret next to a real one is skipped, not used: a header
	// signed with "" does not pass.
	if err := webhook.Verify("t=1700000000,v1="+hmacHex("", "1700000000"), body, now, time.Minute, "", "s"); !errors.Is(err, webhook.ErrNoMatch) {
		t.Errorf("signed with the empty secret: %v", err)
	}
	// No tolerance means the default, never "any time".
	old := sign(t, now.Add(-webhook.DefaultTolerance-time.Second), "s")
	if err := webhook.Verify(old, body, now, 0, "s"); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("zero tolerance: %v", err)
	}
	if err := webhook.Verify(sign(t, now.Add(-webhook.DefaultTolerance+time.Second), "s"), body, now, 0, "s"); err != nil {
		t.Errorf("within the default tolerance: %v", err)
	}
}

// FuzzParse: no header makes Parse or Verify panic, and whatever Parse
// accepts has a t and 1–MaxSecrets v1 values of 32 bytes.
func FuzzParse(f *testing.F) {
	h := sign(f, now, "new", "old")
	v := v1s(h)
	for _, seed := range []string{
		h, "", ",", "=", "t=", "v1=", "t=1,v1=" + v[0], "v1=" + v[1] + ",t=1700000000", "t=1700000000,t=1,v1=" + v[0],
		"t=99999999999999999999,v1=" + v[0], " t = 1 , v1 = 00 ", "t=1700000000,v2=abc,v1=" + v[0], "t=1700000000,v1=" + v[0] + ",", ",v2,t=1,v1=" + v[0], "t,v1=" + v[0], strings.Repeat("v1="+v[0]+",", 20) + "t=1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sig, err := webhook.Parse(header)
		if err == nil {
			if len(sig.V1) == 0 || len(sig.V1) > webhook.MaxSecrets || sig.Timestamp < 0 {
				t.Fatalf("Parse(%q) accepted %+v", header, sig)
			}
			for _, b := range sig.V1 {
				if len(b) != 32 {
					t.Fatalf("Parse(%q): v1 of %d bytes", header, len(b))
				}
			}
		} else if !errors.Is(err, webhook.ErrMalformed) {
			t.Fatalf("Parse(%q): %v is not ErrMalformed", header, err)
		}
		if err := webhook.Verify(header, body, now, time.Minute, "new"); err == nil && !strings.Contains(strings.ToLower(header), v[0]) {
			// (Hex digits may come in either case: the bytes are compared.)
			t.Fatalf("Verify(%q) passed without the signature", header)
		}
	})
}

// hmacHex is the v1 value for secret and t, made without Sign.
func hmacHex(secret, t string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

package supervisor

import (
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line  string
		want  stat
		valid bool
	}{
		{"42 (server) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 5 0 987654 1000 10 0 0", stat{'S', 42, 987654}, true},
		{"42 (we ird) (name)) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", stat{'R', 7, 5}, true},
		{"42 (server) Z 1 42", stat{}, false},
		{"garbage", stat{}, false},
	} {
		got, err := parseStat(tc.line)
		if (err == nil) != tc.valid || got != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v", tc.line, got, err)
		}
	}
}

func TestNextBackoff(t *testing.T) {
	lo, hi := 200*time.Millisecond, 10*time.Second
	for _, tc := range []struct{ prev, want time.Duration }{
		{0, lo},
		{lo, 400 * time.Millisecond},
		{6400 * time.Millisecond, hi},
		{hi, hi},
	} {
		if got := nextBackoff(tc.prev, lo, hi); got != tc.want {
			t.Errorf("nextBackoff(%s) = %s, want %s", tc.prev, got, tc.want)
		}
	}
}

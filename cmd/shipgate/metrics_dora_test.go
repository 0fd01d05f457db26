package main

import "testing"

func TestDORAFormatting(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		in   *float64
		want string
	}{
		{nil, "n/a"}, {f(0.25), "250ms"}, {f(45), "45s"}, {f(300), "5m"}, {f(330), "5m30s"},
		{f(3*3600 + 600), "3h10m"}, {f(50 * 3600), "2d02h"},
	} {
		if got := fmtSeconds(c.in); got != c.want {
			t.Errorf("fmtSeconds(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := fmtRate(nil, 0, 0); got != "n/a — no deployments" {
		t.Errorf("fmtRate(nil) = %q", got)
	}
	if got := fmtRate(f(1.0/3), 1, 3); got != "33.33% (1 of 3)" {
		t.Errorf("fmtRate(1/3) = %q", got)
	}
}

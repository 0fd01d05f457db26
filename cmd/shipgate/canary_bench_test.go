package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

// abortService is the demo app as a canary that only a judge can end: 10%
// of traffic, then a ten-minute pause, with the background sequential
// judge watching. A bad canary is aborted by the judge and rolled back by
// policy (to the stable version, which is still serving).
func abortService(bin, listen string) string {
	return demo.AppService("shop", bin, listen, "{ role: web }", "", `canary:
  steps:
    - set_weight: 10
    - pause: 10m
  background_analysis:
    sequential: {}`)
}

// BenchmarkCanaryAbort measures, end to end on loopback, with a real agent
// router in front of two real demo-app processes and a load of a few
// hundred requests a second: a canary at 10% that answers half its
// requests with 500 → the time from the first bad response the clients
// saw to the last response the canary served (its weight is 0 from then
// on), and to the first response from stable after it (stable serving
// 100%). 10 bad canaries in a row; medians and the slowest.
func BenchmarkCanaryAbort(b *testing.B) {
	for b.Loop() {
		benchCanaryAbort(b)
	}
}

func benchCanaryAbort(b *testing.B) {
	front := freeAddr(b)
	f := newCanaryFixtureWith(b, front, abortService(binary, front))
	s := f.s
	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	l := demo.StartLoad(f.front, 4, 5*time.Millisecond)
	defer l.End()
	var toZero, toStable []time.Duration
	var rate []float64
	for run := 0; run < 10; run++ {
		version := fmt.Sprintf("3.%d", run)
		art := filepath.Join(s.workDir, "shop-"+version+".conf")
		os.WriteFile(art, []byte("version="+version+"\nerror_rate=0.5\n"), 0o644)
		start := time.Now()
		id := s.create("admin", "shop", "--env", "production", "--version", version, "--artifact", "shop-"+version+".conf").ID
		testutil.WaitFor(b, "the release to be rolled back", func() bool { return s.show(id).State == "rolled_back" })
		recs := l.Since(start)
		var firstBad, lastCanary, stableAfter time.Time
		for _, r := range recs {
			switch {
			case r.Version == version && r.Status >= 500 && firstBad.IsZero():
				firstBad = r.At
			}
			if r.Version == version {
				lastCanary = r.At
			}
		}
		for _, r := range recs {
			if r.At.After(lastCanary) && r.Version == "1.0" {
				stableAfter = r.At
				break
			}
		}
		if firstBad.IsZero() || stableAfter.IsZero() {
			b.Fatalf("run %d: first bad %v, stable after %v", run, firstBad, stableAfter)
		}
		toZero = append(toZero, lastCanary.Sub(firstBad))
		toStable = append(toStable, stableAfter.Sub(firstBad))
		rate = append(rate, float64(len(recs))/time.Since(start).Seconds())
	}
	slowest := func(d []time.Duration) time.Duration {
		m := d[0]
		for _, x := range d {
			m = max(m, x)
		}
		return m
	}
	b.Logf("first bad response → canary weight 0: %v", toZero)
	b.ReportMetric(median(toZero).Seconds(), "s-first-bad-to-weight-0")
	b.ReportMetric(slowest(toZero).Seconds(), "s-slowest-to-weight-0")
	b.ReportMetric(median(toStable).Seconds(), "s-first-bad-to-stable-100%")
	b.ReportMetric(rate[len(rate)/2], "req/s-load")
}

package dora

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCompute is the computation alone over 100,000 releases (see
// internal/sqlstore BenchmarkDORA for loading them too).
func BenchmarkCompute(b *testing.B) {
	const n = 100_000
	step := 300 * 24 * time.Hour / n
	var h History
	for i := 1; i <= n; i++ {
		created := t0.Add(time.Duration(i) * step)
		done, committed := created.Add(step/2), created.Add(-2*time.Hour)
		r := Release{ID: int64(i), Service: fmt.Sprintf("svc%d", i%20), Environment: []string{"production", "staging"}[i/20%2], Kind: "deploy",
			CreatedAt: created, ApprovedAt: &created, StartedAt: &created, CommittedAt: &committed, Flags: []string{"checkout"}}
		switch {
		case i%50 == 0 || i%50 == 25:
			r.FailedAt = &done
			if i%50 == 0 {
				h.Signals = append(h.Signals, Signal{At: done, Kind: SignalRollback, Release: r.ID, Service: r.Service, Environment: r.Environment})
			}
		default:
			r.SucceededAt = &done
		}
		if i%50 == 1 && i > 1 {
			r.Kind, r.RollbackOf = "rollback", int64(i-1)
		}
		if i%100 == 10 {
			r.HotfixOf = int64(i - 1)
		}
		if i%500 == 5 {
			h.Signals = append(h.Signals, Signal{At: done.Add(time.Second), Kind: SignalFlagKill, Service: r.Service, Environment: r.Environment, Flag: "checkout"})
		}
		h.Releases = append(h.Releases, r)
	}
	q := Query{Since: t0, Until: t0.Add(301 * 24 * time.Hour), MaxList: 1000}
	for b.Loop() {
		Compute(h, q)
	}
}

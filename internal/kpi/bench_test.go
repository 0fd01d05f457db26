package kpi

import (
	"fmt"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// BenchmarkCompute100k computes the KPIs of 100,000 releases over 30 days
// in four services and two environments, each with a deploy job and a
// health check (one in ten failing, half of those passing on a rerun),
// two policy decisions, a queue wait per job and release, and a canary
// with two analysis decisions (one in twenty aborting). Budget: ≤ 1 s
// (docs/benchmarks.md "Gate KPIs (issue 16)").
func BenchmarkCompute100k(b *testing.B) {
	h := synthetic(100_000)
	f := shipgate.KPIFilter{Since: t0, Until: t0.Add(31 * 24 * time.Hour)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if k := Compute(h, f); k.Releases != 100_000 {
			b.Fatalf("releases %d", k.Releases)
		}
	}
}

func synthetic(n int) *History {
	h := &History{}
	step := 30 * 24 * time.Hour / time.Duration(n)
	for i := range n {
		id := int64(i + 1)
		c := t0.Add(time.Duration(i) * step)
		h.Releases = append(h.Releases, Release{ID: id, Service: fmt.Sprintf("svc-%d", i%4), Environment: []string{"staging", "prod"}[i%2], Team: "team", Kind: shipgate.ReleaseKindDeploy, ArtifactSHA: fmt.Sprint(i / 2), CreatedAt: c})
		h.Outcomes = append(h.Outcomes,
			Outcome{ReleaseID: id, Kind: shipgate.GateKindJob, Gate: "deploy", Passed: true, At: c.Add(time.Minute)},
			Outcome{ReleaseID: id, Kind: shipgate.GateKindJob, Gate: "health", Passed: i%10 != 0, At: c.Add(2 * time.Minute)},
			Outcome{ReleaseID: id, Kind: shipgate.GateKindPolicy, Gate: "create", Passed: true, At: c},
			Outcome{ReleaseID: id, Kind: shipgate.GateKindPolicy, Gate: "start", Passed: true, At: c.Add(time.Second)})
		if i%20 == 0 {
			h.Outcomes = append(h.Outcomes, Outcome{ReleaseID: id, Kind: shipgate.GateKindJob, Gate: "health", Passed: true, At: c.Add(5 * time.Minute)})
		}
		h.JobWaits = append(h.JobWaits, Wait{id, c, c.Add(time.Duration(i%60) * time.Second)}, Wait{id, c.Add(time.Minute), c.Add(time.Minute + time.Second)})
		h.ReleaseWaits = append(h.ReleaseWaits, Wait{id, c, c.Add(time.Duration(i%7) * time.Second)})
		end := c.Add(time.Duration(10+i%5) * time.Minute)
		h.Rollouts = append(h.Rollouts, Rollout{ReleaseID: id, Started: c.Add(3 * time.Minute), Ended: &end, Aborted: i%20 == 1, Cause: "metric error-rate"})
		h.Decisions = append(h.Decisions, Decision{id, "error-rate", "threshold", shipgate.AnalysisSuccessful}, Decision{id, "latency", "sequential", shipgate.AnalysisSuccessful})
	}
	return h
}

package decide

import (
	"testing"

	"github.com/shipgate/shipgate"
)

// BenchmarkDecideTick is the reconcile loop's look at a running release of
// four jobs, two done and two waiting to be queued: the decider's share of
// every pass.
func BenchmarkDecideTick(b *testing.B) {
	obs := Observed{Release: release(shipgate.StateRunning, shipgate.Environment{Name: "production"}),
		Jobs: jobs(shipgate.JobSucceeded, shipgate.JobSucceeded, shipgate.JobWaiting, shipgate.JobWaiting)}
	obs.Release.Run = 1
	b.ReportAllocs()
	for b.Loop() {
		p, err := Decide(obs, Tick{}, now)
		if err != nil || len(p.Steps) == 0 {
			b.Fatalf("%v %+v", err, p)
		}
	}
}

// BenchmarkCheckSteps is the table check of such a plan.
func BenchmarkCheckSteps(b *testing.B) {
	obs := Observed{Release: release(shipgate.StateQueued, shipgate.Environment{Name: "production"})}
	p, err := Decide(obs, Tick{}, now)
	if err != nil || len(p.Steps) == 0 {
		b.Fatalf("%v %+v", err, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckSteps(&p); err != nil {
			b.Fatal(err)
		}
	}
}

package judgesim

import (
	"math/rand/v2"
	"testing"

	"github.com/shipgate/shipgate/internal/analysis"
)

// testScenario is a valid scenario whose arms all run at the default error
// rate and latency; tests change what they judge.
func testScenario(name, expect string, duration int) *Scenario {
	s := &Scenario{Name: name, Expect: expect, Duration: duration, Rate: Const(1000), CanaryWeight: Const(0.05), LatencyMedian: 100, LatencySigma: 0.5}
	for arm := range analysis.NumArms {
		s.Arms[arm] = ArmModel{ErrorRate: Const(0.005), LatencyMultiplier: Const(1)}
	}
	return s
}

// TestSimulateCommonRandomNumbers checks that a run is a function of the
// seed and run number only, and that every judge sees the same canary.
func TestSimulateCommonRandomNumbers(t *testing.T) {
	s := testScenario("step", ExpectRollback, 600)
	s.Arms[analysis.Canary].ErrorRate = Const(0.5)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	judges := []JudgeFactory{BenchJudges()[0], BenchJudges()[0]}
	a := Simulate(s, judges, 3, 7)
	b := Simulate(s, judges, 3, 7)
	if a[0] != b[0] || a[0] != a[1] {
		t.Fatalf("runs differ: %+v %+v", a, b)
	}
	// The stall-valid judge at most doubles its evidence per second: a
	// hard failure takes 8 s (docs/judge-benchmark.md).
	if !a[0].RolledBack || a[0].Seconds > 9 || a[0].CanaryRequests == 0 || a[0].ExcessBad <= 0 {
		t.Errorf("hard failure outcome %+v", a[0])
	}
}

func BenchmarkSimulateTick(b *testing.B) {
	s := testScenario("bench", ExpectPromote, 1800)
	sim := &simulator{s: s, r: rand.New(rand.NewPCG(1, 1)), aux: rand.New(rand.NewPCG(2, 2))}
	var t analysis.Tick
	b.ReportAllocs()
	sec := 0
	for b.Loop() {
		sim.tick(sec%1800, &t)
		sec++
	}
}

package analysis

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCurve(t *testing.T) {
	steps := Curve{Points: []Point{{0, 1}, {60, 5}, {90, 1}}}
	ramp := Curve{Points: []Point{{0, 0.005}, {1200, 0.02}}, Linear: true}
	for _, c := range []struct {
		c    Curve
		at   float64
		want float64
	}{
		{steps, -1, 1}, {steps, 0, 1}, {steps, 59.9, 1}, {steps, 60, 5}, {steps, 89, 5}, {steps, 90, 1}, {steps, 1e6, 1},
		{ramp, 0, 0.005}, {ramp, 600, 0.0125}, {ramp, 1200, 0.02}, {ramp, 5000, 0.02},
		{Const(3), 12345, 3},
	} {
		if got := c.c.At(c.at); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("At(%v) = %v, want %v", c.at, got, c.want)
		}
	}
}

// TestPoisson checks the sampler's mean and variance on both of its paths.
func TestPoisson(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, mu := range []float64{0.05, 3, 9.9, 10, 47.5, 900} {
		const n = 40000
		var sum, sq float64
		for range n {
			k := float64(poisson(r, mu))
			sum += k
			sq += k * k
		}
		mean := sum / n
		variance := sq/n - mean*mean
		// The sample mean's standard error is sqrt(mu/n); allow 5 of them.
		if math.Abs(mean-mu) > 5*math.Sqrt(mu/n) {
			t.Errorf("mu %v: mean %v", mu, mean)
		}
		if math.Abs(variance-mu)/mu > 0.05 {
			t.Errorf("mu %v: variance %v", mu, variance)
		}
	}
	if poisson(r, 0) != 0 || poisson(r, -1) != 0 {
		t.Error("poisson of a non-positive mean must be 0")
	}
}

func TestSlowProbability(t *testing.T) {
	if p := slowProbability(1, 0.5); math.Abs(p-0.10) > 1e-9 {
		t.Errorf("healthy arm: %v slow, want 10%%", p)
	}
	// The research note's figure: a +20% median moves the share to 18%.
	if p := slowProbability(1.2, 0.5); math.Abs(p-0.18) > 0.005 {
		t.Errorf("+20%% median: %v slow, want about 18%%", p)
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	if q := Quantile(xs, 0.5); q != 3 {
		t.Errorf("median %v", q)
	}
	if q := Quantile([]float64{1, 2, 3, 4}, 0.5); q != 2.5 {
		t.Errorf("median of four %v", q)
	}
	if q := Quantile([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9); math.Abs(q-9.1) > 1e-12 {
		t.Errorf("p90 %v", q)
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("quantile of nothing must be NaN")
	}
}

func tick(sec int, stableReqs, stableErrs, canaryReqs, canaryErrs int) *Tick {
	t := &Tick{Second: sec}
	t.Arms[Stable] = ArmTick{Requests: stableReqs, Errors: stableErrs, LatencySum: 100 * float64(stableReqs)}
	t.Arms[Baseline] = ArmTick{Requests: canaryReqs, Errors: stableErrs * canaryReqs / max(stableReqs, 1), LatencySum: 100 * float64(canaryReqs)}
	t.Arms[Canary] = ArmTick{Requests: canaryReqs, Errors: canaryErrs, LatencySum: 100 * float64(canaryReqs)}
	return t
}

func TestSequentialDecides(t *testing.T) {
	s := NewSequential(0.01)
	var v Verdict
	sec := 0
	for ; sec < 10 && !v.Rollback; sec++ {
		v = s.Observe(tick(sec, 900, 4, 50, 25))
	}
	if !v.Rollback || sec > 3 {
		t.Fatalf("a canary taking most errors was not rolled back in 3 s: %v after %d s", v, sec)
	}
	ev := s.Evidence()
	if ev["canary_errors"] != 75 || ev["all_errors"] != 87 || ev["e_errors"].(float64) < 200 {
		t.Errorf("evidence %v", ev)
	}
	if v.Reason == "" {
		t.Error("no reason")
	}

	// A canary that takes its share of errors keeps its wealth near 1.
	s = NewSequential(0.01)
	for sec := range 1800 {
		canaryErrs := 0
		if sec%4 == 0 {
			canaryErrs = 1 // 0.25 errors/s of 5: exactly its 5% share of traffic
		}
		if v := s.Observe(tick(sec, 950, 5, 50, canaryErrs)); v.Rollback {
			t.Fatalf("fair canary rolled back at %d s: %s", sec, v.Reason)
		}
	}
	// Seconds without traffic or errors are no bets.
	s = NewSequential(0.01)
	s.Observe(tick(0, 0, 0, 0, 0))
	s.Observe(tick(1, 100, 0, 10, 0))
	if e, slow := s.EValues(); e != 1 || slow != 1 {
		t.Errorf("no bad events moved the e-values to %v, %v", e, slow)
	}
}

func TestArgo(t *testing.T) {
	a := NewArgo(60, JudgeEnv{BaselineMeanLatency: 100})
	rollbackAt := -1
	for sec := range 600 {
		if v := a.Observe(tick(sec, 900, 4, 50, 1)); v.Rollback { // 2% errors
			rollbackAt = sec + 1
			break
		}
	}
	if rollbackAt != 180 {
		t.Errorf("argo-60s rolled back at %d s, want 180 (three failed measurements > failureLimit 2)", rollbackAt)
	}
	a = NewArgo(15, JudgeEnv{BaselineMeanLatency: 100})
	for sec := range 600 {
		if v := a.Observe(tick(sec, 900, 4, 50, 0)); v.Rollback {
			t.Fatalf("healthy canary rolled back: %s", v.Reason)
		}
	}
}

func TestMannWhitney(t *testing.T) {
	base := []float64{1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01, 0.99, 1.03}
	worse := make([]float64, len(base))
	for i, x := range base {
		worse[i] = x + 0.5
	}
	if high, lo, est := mannWhitneyHigh(worse, base, 0.98, 0.25); !high || math.Abs(est-0.5) > 1e-9 || lo <= 0 {
		t.Errorf("a clear shift is not High: %v %v %v", high, lo, est)
	}
	if high, _, _ := mannWhitneyHigh(base, base, 0.98, 0.25); high {
		t.Error("identical series are High")
	}
	if high, _, _ := mannWhitneyHigh([]float64{1, 1, 1}, []float64{1, 1, 1}, 0.98, 0.25); high {
		t.Error("constant identical series are High")
	}
	if q := normalQuantile(0.99); math.Abs(q-2.3263478740) > 1e-8 {
		t.Errorf("normalQuantile(0.99) = %v", q)
	}
}

// TestSimulateCommonRandomNumbers checks that a run is a function of the
// seed and run number only, and that every judge sees the same canary.
func TestSimulateCommonRandomNumbers(t *testing.T) {
	s := &Scenario{Name: "step", Expect: ExpectRollback, Duration: 600, Rate: 1000, CanaryWeight: 0.05, LatencyMedian: 100, LatencySigma: 0.5}
	for arm := range NumArms {
		s.Arms[arm] = ArmModel{ErrorRate: Const(0.005), LatencyMultiplier: Const(1)}
	}
	s.Arms[Canary].ErrorRate = Const(0.5)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	judges := []JudgeFactory{BenchJudges()[0], BenchJudges()[0]}
	a := Simulate(s, judges, 3, 7)
	b := Simulate(s, judges, 3, 7)
	if a[0] != b[0] || a[0] != a[1] {
		t.Fatalf("runs differ: %+v %+v", a, b)
	}
	if !a[0].RolledBack || a[0].Seconds > 5 || a[0].CanaryRequests == 0 || a[0].ExcessBad <= 0 {
		t.Errorf("hard failure outcome %+v", a[0])
	}
	res, err := Bench(context.Background(), []*Scenario{s}, BenchOptions{Runs: 20, Seed: 1, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	res1, _ := Bench(context.Background(), []*Scenario{s}, BenchOptions{Runs: 20, Seed: 1, Workers: 1})
	for i := range res {
		if res[i].RollbackRate != res1[i].RollbackRate || *res[i].MedianS != *res1[i].MedianS {
			t.Errorf("results depend on the worker count: %+v vs %+v", res[i], res1[i])
		}
	}
}

func TestScenarioValidate(t *testing.T) {
	s := &Scenario{Name: "x", Expect: "maybe", Duration: 0, Rate: -1, CanaryWeight: 0.6, LatencyMedian: 100, LatencySigma: 0.5}
	err := s.Validate()
	if err == nil {
		t.Fatal("a bad scenario passed")
	}
	for _, want := range []string{"expect", "duration", "rate", "canary_weight", "stable.error_rate is missing"} {
		if !contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
func BenchmarkSequentialObserve(b *testing.B) {
	// A fair canary: it takes its share of errors and slow requests, so
	// the judge keeps betting and never decides.
	s := NewSequential(0.01)
	ticks := make([]*Tick, 20)
	for i := range ticks {
		ticks[i] = tick(i, 950, 5, 50, 0)
		ticks[i].Arms[Stable].Slow, ticks[i].Arms[Canary].Slow = 95, 5
		if i%4 == 0 {
			ticks[i].Arms[Canary].Errors = 1
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if v := s.Observe(ticks[i%len(ticks)]); v.Rollback {
			b.Fatal(v.Reason)
		}
		i++
	}
}

func BenchmarkSimulateTick(b *testing.B) {
	s := &Scenario{Name: "bench", Expect: ExpectPromote, Duration: 1800, Rate: 1000, CanaryWeight: 0.05, LatencyMedian: 100, LatencySigma: 0.5}
	for arm := range NumArms {
		s.Arms[arm] = ArmModel{ErrorRate: Const(0.005), LatencyMultiplier: Const(1)}
	}
	sim := &simulator{s: s, r: rand.New(rand.NewPCG(1, 1)), share: s.share()}
	var t Tick
	b.ReportAllocs()
	sec := 0
	for b.Loop() {
		sim.tick(sec%1800, &t)
		sec++
	}
}

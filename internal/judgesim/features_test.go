package judgesim

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shipgate/shipgate/internal/analysis"
)

// recorder is a judge that never decides and remembers what it was told.
type recorder struct {
	env     analysis.JudgeEnv
	ticks   []analysis.Tick
	changes []int // WeightChanged seconds
	events  []string
}

func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Observe(t *analysis.Tick) analysis.Verdict {
	r.ticks = append(r.ticks, *t)
	r.events = append(r.events, fmt.Sprintf("tick %d", t.Second))
	return analysis.Verdict{}
}
func (r *recorder) WeightChanged(sec int) {
	r.changes = append(r.changes, sec)
	r.events = append(r.events, fmt.Sprintf("weight %d", sec))
}

// record simulates one run and returns what a judge saw.
func record(s *Scenario, seed, run uint64) *recorder {
	var rec *recorder
	f := JudgeFactory{Name: "recorder", New: func(env analysis.JudgeEnv) analysis.Judge {
		rec = &recorder{env: env}
		return rec
	}}
	Simulate(s, []JudgeFactory{f}, seed, run)
	return rec
}

func mustValid(t *testing.T, s *Scenario) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestLatencyTailMovesOnlyTheTail draws single latencies with the same
// random numbers with and without latency_tail {above 0.9, multiplier
// 1.5}: p50 and p90 stay, p99 moves by the multiplier.
func TestLatencyTailMovesOnlyTheTail(t *testing.T) {
	healthy := latency{Median: 100, Sigma: 0.5}
	tail := latency{Median: 100, Sigma: 0.5, Tail: LatencyTail{Above: 0.9, Multiplier: 1.5}}
	const n = 20000
	var h, k []float64
	rh, rk := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for range n {
		h = append(h, latencySum(rh, 1, healthy))
		k = append(k, latencySum(rk, 1, tail))
	}
	for _, q := range []float64{0.5, 0.8, 0.89} {
		if a, b := Quantile(h, q), Quantile(k, q); a != b {
			t.Errorf("p%.0f moved from %.2f to %.2f", 100*q, a, b)
		}
	}
	if a, b := Quantile(h, 0.99), Quantile(k, 0.99); math.Abs(b/a-1.5) > 1e-9 {
		t.Errorf("p99 %.2f -> %.2f, want ×1.5", a, b)
	}
	// The counters: slow (beyond a healthy p90) unchanged at 10%; the tail
	// (beyond a healthy p99) from 1% to P(Z > z99 − ln 1.5/σ) ≈ 6.5%.
	if qs := tail.exceeds(z90, 100); math.Abs(qs-0.10) > 1e-9 {
		t.Errorf("slow share with a tail regression %v, want 10%%", qs)
	}
	if qt := healthy.exceeds(z99, 100); math.Abs(qt-0.01) > 1e-9 {
		t.Errorf("healthy tail share %v, want 1%%", qt)
	}
	if qt, want := tail.exceeds(z99, 100), upper(z99-math.Log(1.5)/0.5); math.Abs(qt-want) > 1e-12 || qt < 0.06 {
		t.Errorf("tail share %v, want %v", qt, want)
	}
	// The normal approximation of the sum uses the tail's mean.
	mean, _ := tail.moments()
	got := 0.0
	for _, x := range k {
		got += x
	}
	if got /= n; math.Abs(got-mean)/mean > 0.01 {
		t.Errorf("mean latency %v, moments say %v", got, mean)
	}
}

// TestSimulatedTicksFillTail checks Slow and Tail for every arm: 10% and
// 1% of a healthy arm's requests, 10% and ≈6.5% of a canary with a tail
// regression.
func TestSimulatedTicksFillTail(t *testing.T) {
	s := testScenario("tail", ExpectRollback, 600)
	s.Arms[analysis.Canary].Tail = LatencyTail{Above: 0.9, Multiplier: 1.5}
	mustValid(t, s)
	rec := record(s, 1, 0)
	var sum [analysis.NumArms]analysis.ArmTick
	for _, tk := range rec.ticks {
		for arm := range analysis.NumArms {
			a := tk.Arms[arm]
			sum[arm].Requests += a.Requests
			sum[arm].Slow += a.Slow
			sum[arm].Tail += a.Tail
			if a.Tail > a.Slow {
				t.Fatalf("arm %d second %d: %d in the tail but %d slow", arm, tk.Second, a.Tail, a.Slow)
			}
		}
	}
	wantTail := [analysis.NumArms]float64{0.01, 0.01, upper(z99 - math.Log(1.5)/0.5)}
	for arm := range analysis.NumArms {
		n := float64(sum[arm].Requests)
		slow, tail := float64(sum[arm].Slow)/n, float64(sum[arm].Tail)/n
		// Five standard errors of a share.
		if se := math.Sqrt(0.1 * 0.9 / n); math.Abs(slow-0.10) > 5*se {
			t.Errorf("%s: %.4f slow, want 10%%", ArmNames[arm], slow)
		}
		if se := math.Sqrt(wantTail[arm] / n); math.Abs(tail-wantTail[arm]) > 5*se {
			t.Errorf("%s: %.4f in the tail, want %.4f", ArmNames[arm], tail, wantTail[arm])
		}
	}
}

// TestStallsIndependentPerArm: with fail_share 100% and no other errors a
// second has errors exactly when its arm stalled; each arm stalls at the
// given chance, and both together at its square.
func TestStallsIndependentPerArm(t *testing.T) {
	s := testScenario("stalls", ExpectPromote, 20000)
	for arm := range analysis.NumArms {
		s.Arms[arm].ErrorRate = Const(0)
		s.Arms[arm].Stalls = Stalls{ChancePerSecond: 0.1, FailShare: 1}
	}
	s.Arms[analysis.Stable].Stalls.SlowShare = 0.5
	mustValid(t, s)
	rec := record(s, 1, 0)
	var stalled [analysis.NumArms]int
	both := 0
	for _, tk := range rec.ticks {
		for arm := range analysis.NumArms {
			a := tk.Arms[arm]
			if a.Errors > 0 {
				stalled[arm]++
				if a.Errors != a.Requests {
					t.Fatalf("%s stalled at %d: %d of %d failed, want all", ArmNames[arm], tk.Second, a.Errors, a.Requests)
				}
			}
		}
		if tk.Arms[analysis.Canary].Errors > 0 && tk.Arms[analysis.Stable].Errors > 0 {
			both++
		}
	}
	n := float64(len(rec.ticks))
	// The canary's 50 requests a second make an empty stalled second
	// negligible (e^-50).
	for arm := range analysis.NumArms {
		if got := float64(stalled[arm]) / n; math.Abs(got-0.1) > 5*math.Sqrt(0.09/n) {
			t.Errorf("%s stalled in %.4f of seconds, want 10%%", ArmNames[arm], got)
		}
	}
	if got := float64(both) / n; math.Abs(got-0.01) > 5*math.Sqrt(0.0099/n) {
		t.Errorf("canary and stable stalled together in %.4f of seconds, want 1%% (independent)", got)
	}
	// slow_share: half of stable's requests in a stalled second are slowed
	// past the p99, on top of its usual 1% (so slow ≥ tail ≈ 50.5%).
	var tail, reqs int
	for _, tk := range rec.ticks {
		if a := tk.Arms[analysis.Stable]; a.Errors > 0 {
			tail += a.Tail
			reqs += a.Requests
		}
	}
	if got := float64(tail) / float64(reqs); math.Abs(got-0.505) > 0.01 {
		t.Errorf("stable's stalled seconds: %.3f in the tail, want 50.5%%", got)
	}
}

// TestStallsDoNoExcessHarm: equal stalls on both arms are not the
// canary's fault; stalls on the canary alone are.
func TestStallsDoNoExcessHarm(t *testing.T) {
	s := testScenario("equal-stalls", ExpectPromote, 300)
	for arm := range analysis.NumArms {
		s.Arms[arm].Stalls = Stalls{ChancePerSecond: 0.05, FailShare: 0.5}
	}
	sim := &simulator{s: s, r: rand.New(rand.NewPCG(1, 1)), aux: rand.New(rand.NewPCG(2, 2))}
	var tk analysis.Tick
	if ex := sim.tick(0, &tk); ex != 0 {
		t.Errorf("equal stalls: excess %v", ex)
	}
	s.Arms[analysis.Stable].Stalls = Stalls{}
	if ex := sim.tick(0, &tk); ex <= 0 {
		t.Errorf("canary-only stalls: excess %v, want > 0", ex)
	}
}

// TestTelemetry: missing seconds are never shown (drop) or shown with the
// next second (lump); the traffic is the same with or without telemetry
// loss, and lumping conserves every count.
func TestTelemetry(t *testing.T) {
	base := testScenario("telemetry", ExpectPromote, 2000)
	mustValid(t, base)
	full := record(base, 4, 2)
	drop, lump := *base, *base
	drop.Telemetry = Telemetry{MissingPerSecond: 0.3, Mode: TelemetryDrop}
	lump.Telemetry = Telemetry{MissingPerSecond: 0.3, Mode: TelemetryLump}
	mustValid(t, &drop)
	mustValid(t, &lump)
	dr, lr := record(&drop, 4, 2), record(&lump, 4, 2)
	if len(full.ticks) != 2000 {
		t.Fatalf("%d ticks without loss", len(full.ticks))
	}
	if got := 1 - float64(len(dr.ticks))/2000; math.Abs(got-0.3) > 5*math.Sqrt(0.21/2000) {
		t.Errorf("%.3f of seconds missing, want 30%%", got)
	}
	if len(lr.ticks) != len(dr.ticks) {
		t.Fatalf("drop delivered %d ticks, lump %d: the same seconds must go missing", len(dr.ticks), len(lr.ticks))
	}
	bySecond := map[int]analysis.Tick{}
	for _, tk := range full.ticks {
		bySecond[tk.Second] = tk
	}
	for i, tk := range dr.ticks {
		if tk != bySecond[tk.Second] {
			t.Fatalf("dropped telemetry changed second %d's traffic", tk.Second)
		}
		if lr.ticks[i].Second != tk.Second {
			t.Fatalf("lump delivered second %d where drop delivered %d", lr.ticks[i].Second, tk.Second)
		}
	}
	var sentAll, sentLump analysis.Tick
	last := lr.ticks[len(lr.ticks)-1].Second
	for _, tk := range full.ticks {
		if tk.Second <= last {
			addTick(&sentAll, &tk)
		}
	}
	for _, tk := range lr.ticks {
		addTick(&sentLump, &tk)
	}
	for arm := range analysis.NumArms {
		a, b := sentAll.Arms[arm], sentLump.Arms[arm]
		if a.Requests != b.Requests || a.Errors != b.Errors || a.Slow != b.Slow || a.Tail != b.Tail || math.Abs(a.LatencySum-b.LatencySum) > 1e-6*a.LatencySum {
			t.Errorf("%s: lumped counts %+v, sent %+v", ArmNames[arm], b, a)
		}
	}
}

// TestWeightSchedule: the canary (and the baseline) get the scheduled
// share, judges hear of each change before that second's tick, and the
// rate follows its ramp.
func TestWeightSchedule(t *testing.T) {
	s := testScenario("weights", ExpectPromote, 900)
	s.CanaryWeight = Curve{Points: []Point{{0, 0.05}, {300, 0.25}, {600, 0.5}}}
	s.Rate = Curve{Points: []Point{{0, 1000}, {900, 2000}}, Linear: true}
	s.Warmup = 30
	mustValid(t, s)
	rec := record(s, 1, 0)
	if fmt.Sprint(rec.changes) != "[300 600]" {
		t.Errorf("weight changes told at %v, want [300 600]", rec.changes)
	}
	for i, e := range rec.events {
		if e == "weight 300" && rec.events[i+1] != "tick 300" || e == "weight 600" && rec.events[i+1] != "tick 600" {
			t.Errorf("weight change not told right before its tick: %v", rec.events[i-1:i+2])
		}
	}
	if rec.env.Warmup != 30 {
		t.Errorf("judges got warm-up %d, want 30", rec.env.Warmup)
	}
	share := func(from, to, arm int) (float64, float64) {
		var n, all float64
		for _, tk := range rec.ticks[from:to] {
			n += float64(tk.Arms[arm].Requests)
			for a := range analysis.NumArms {
				all += float64(tk.Arms[a].Requests)
			}
		}
		return n / all, all
	}
	for _, c := range []struct {
		from, to int
		want     float64
	}{{0, 300, 0.05}, {300, 600, 0.25}, {600, 900, 0.5}} {
		got, _ := share(c.from, c.to, analysis.Canary)
		if math.Abs(got-c.want) > 0.01 {
			t.Errorf("seconds %d–%d: canary share %.3f, want %.2f", c.from, c.to, got, c.want)
		}
		if b, _ := share(c.from, c.to, analysis.Baseline); math.Abs(b-got) > 0.01 {
			t.Errorf("seconds %d–%d: baseline share %.3f, canary %.3f", c.from, c.to, b, got)
		}
	}
	if st, _ := share(600, 900, analysis.Stable); st != 0 {
		t.Errorf("stable has %.3f of the traffic at 50%%", st)
	}
	_, early := share(0, 100, analysis.Stable)
	_, late := share(800, 900, analysis.Stable)
	// Rate ramps 1000 → 2000 req/s: about 1056 and 1944 on average.
	if math.Abs(early/100-1055.6) > 20 || math.Abs(late/100-1944.4) > 20 {
		t.Errorf("rate %.0f early, %.0f late", early/100, late/100)
	}
}

// everything is a scenario using every feature of the format.
func everything() *Scenario {
	s := testScenario("everything", ExpectRollback, 600)
	s.Rate = Curve{Points: []Point{{0, 500}, {600, 1500}}, Linear: true}
	s.CanaryWeight = Curve{Points: []Point{{0, 0.05}, {200, 0.25}, {400, 0.5}}}
	s.Arms[analysis.Canary].ErrorRate = Curve{Points: []Point{{0, 0.2}, {30, 0.005}}}
	s.Arms[analysis.Canary].Tail = LatencyTail{Above: 0.9, Multiplier: 1.5}
	for arm := range analysis.NumArms {
		s.Arms[arm].Stalls = Stalls{ChancePerSecond: 0.05, FailShare: 0.5, SlowShare: 0.2}
	}
	s.Bursts = Bursts{ChancePerSecond: 0.01, Size: 20}
	s.Telemetry = Telemetry{MissingPerSecond: 0.1, Mode: TelemetryLump}
	s.Warmup = 30
	return s
}

// TestReproducible: a seeded run is a function of the seed, the run and
// the scenario only, and its integer counters are pinned, so a change in
// the draws (or a machine that draws differently) shows.
func TestReproducible(t *testing.T) {
	s := everything()
	mustValid(t, s)
	digest := func() uint64 {
		h := fnv.New64a()
		for _, tk := range record(s, 9, 3).ticks {
			fmt.Fprintln(h, tk.Second)
			for _, a := range tk.Arms {
				fmt.Fprintln(h, a.Requests, a.Errors, a.Slow, a.Tail)
			}
		}
		return h.Sum64()
	}
	a, b := digest(), digest()
	if a != b {
		t.Fatalf("two runs with the same seed differ: %x %x", a, b)
	}
	const pinned = 0xcb75d3a0464177e6
	if a != pinned {
		t.Errorf("seed 9 run 3 digests to %#x, pinned %#x: the draws changed", a, uint64(pinned))
	}
	if o1, o2 := Simulate(s, BenchJudges(), 9, 3), Simulate(s, BenchJudges(), 9, 3); fmt.Sprint(o1) != fmt.Sprint(o2) {
		t.Errorf("outcomes differ:\n%v\n%v", o1, o2)
	}
}

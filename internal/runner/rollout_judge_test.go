package runner

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/router"
)

// counters builds a version's cumulative counters from latencies and
// their counts, placed in the router's histogram buckets.
func counters(base router.Counters, errors int, lat map[time.Duration]int) router.Counters {
	c := base
	c.Errors += uint64(errors)
	for d, n := range lat {
		i := 0
		for router.BucketUpper(i) <= d {
			i++
		}
		c.Buckets[i] += uint64(n)
		c.Requests += uint64(n)
		c.LatencySum += d * time.Duration(n)
	}
	return c
}

// The tail count live: a tick counts requests slower than stable's recent
// p99 (Tail) next to those slower than its p90 (Slow), from the router's
// histograms.
func TestTickCountsTailBeyondStableP99(t *testing.T) {
	tr := newTraffic(nil, "svc", "s", "c")
	at := time.Unix(1e9, 0)
	var st, ca router.Counters
	// A minute of stable traffic: p90 at 10 ms, p99 at 20 ms.
	for range 61 {
		tr.add(sample{At: at, Stable: st, Canary: ca})
		at = at.Add(time.Second)
		st = counters(st, 0, map[time.Duration]int{10 * time.Millisecond: 90, 20 * time.Millisecond: 9, 40 * time.Millisecond: 1})
		ca = counters(ca, 0, map[time.Duration]int{10 * time.Millisecond: 9, 20 * time.Millisecond: 1})
	}
	prev := tr.last
	// One second in which the canary's tail regressed: p90 unchanged, its
	// slowest 5% at 60 ms.
	st = counters(prev.Stable, 0, map[time.Duration]int{10 * time.Millisecond: 90, 20 * time.Millisecond: 9, 40 * time.Millisecond: 1})
	ca = counters(prev.Canary, 0, map[time.Duration]int{10 * time.Millisecond: 95, 60 * time.Millisecond: 5})
	tr.add(sample{At: at, Stable: st, Canary: ca})
	tk := tr.tick(prev, tr.last)
	s, c := tk.Arms[analysis.Stable], tk.Arms[analysis.Canary]
	if s.Requests != 100 || c.Requests != 100 {
		t.Fatalf("requests %d/%d", s.Requests, c.Requests)
	}
	if c.Tail != 5 || s.Tail != 1 {
		t.Errorf("tail: canary %d, stable %d; want 5 and 1 (requests slower than stable's p99)", c.Tail, s.Tail)
	}
	if c.Slow != 5 || s.Slow != 10 {
		t.Errorf("slow: canary %d, stable %d; want 5 and 10 (requests slower than stable's p90)", c.Slow, s.Slow)
	}
	if tk.Second != tr.last.Seq {
		t.Errorf("tick second %d, want the sample's seq %d", tk.Second, tr.last.Seq)
	}
}

// With too little stable traffic for a p99, the tail is not counted rather
// than counted against a p99 set by two requests.
func TestTickNoTailWithoutEnoughStableTraffic(t *testing.T) {
	tr := newTraffic(nil, "svc", "s", "c")
	at := time.Unix(1e9, 0)
	var st, ca router.Counters
	for range 3 {
		tr.add(sample{At: at, Stable: st, Canary: ca})
		at = at.Add(time.Second)
		st = counters(st, 0, map[time.Duration]int{10 * time.Millisecond: 45, 40 * time.Millisecond: 5})
		ca = counters(ca, 0, map[time.Duration]int{60 * time.Millisecond: 10})
	}
	prev := tr.samples[len(tr.samples)-2]
	tk := tr.tick(prev, tr.last)
	if c := tk.Arms[analysis.Canary]; c.Tail != 0 || c.Slow != 10 {
		t.Errorf("canary slow %d tail %d; want 10 slow (100 stable requests give a p90) and no tail (too few for a p99)", c.Slow, c.Tail)
	}
}

// A weight change is seen by the sampler and numbered, so every judge
// starts its warm-up at the same second, however late it subscribed.
func TestSamplesNoteWeightChanges(t *testing.T) {
	tr := newTraffic(nil, "svc", "s", "c")
	for _, w := range []int{0, 0, 10, 10, 10, 50, 50} {
		tr.add(sample{Weight: w})
	}
	var got []int
	for _, s := range tr.samples {
		got = append(got, s.ChangedAt)
	}
	want := []int{1, 1, 3, 3, 3, 6, 6}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ChangedAt %v, want %v", got, want)
		}
	}
}

// tickOf is one second of a canary at weight w of rate requests a second,
// with errors counted for each arm.
func tickOf(sec, rate, w, stableErr, canaryErr int) analysis.Tick {
	tk := analysis.Tick{Second: sec}
	c := rate * w / 100
	tk.Arms[analysis.Stable] = analysis.ArmTick{Requests: rate - c, Errors: stableErr}
	tk.Arms[analysis.Canary] = analysis.ArmTick{Requests: c, Errors: canaryErr}
	return tk
}

// Warm-up is the user's policy: a canary that errs for its first seconds
// after each weight change is not judged then, and says so; the same
// errors after the warm-up roll it back; without warm-up they roll it back
// at once.
func TestWarmupForgivesTheFirstSecondsAfterEachWeightChange(t *testing.T) {
	b := (&shipgate.Strategy{Canary: &shipgate.CanaryStrategy{BackgroundAnalysis: &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{}}}}).ErrorBudget()
	run := func(warmup time.Duration, errFrom, errTo int) (rolledBackAt int, j *liveJudge) {
		j = newLiveJudge(&shipgate.SequentialAnalysis{Warmup: shipgate.Duration(warmup)}, "background", b)
		w, changedAt := 0, 1
		for sec := 1; sec <= 120; sec++ {
			if nw := []int{0, 10, 10, 50}[min(sec/30, 3)]; nw != w {
				w, changedAt = nw, sec
			}
			j.tell(changedAt)
			ce := 0
			if sec-changedAt >= errFrom && sec-changedAt < errTo && w > 0 {
				ce = 20 // the canary fails a fifth of its requests
			}
			tk := tickOf(sec, 1000, w, 1, ce)
			if v := j.observe(&tk); v.Rollback {
				return sec, j
			}
		}
		return 0, j
	}
	// Errors in the first 10 s after each change (30 s: 0→10 %, 90 s: 10→50 %).
	if at, j := run(15*time.Second, 0, 10); at != 0 {
		t.Fatalf("rolled back at second %d within warm-up; evidence %v", at, j.evidence())
	} else if ev := j.evidence(); ev["warmup_seconds"] != 15 || ev["seconds_unjudged"].(int) < 30 {
		t.Errorf("evidence %v: want warmup_seconds 15 and at least 30 unjudged seconds (two warm-ups after the first ticks)", ev)
	} else if judged := 120 - ev["seconds_unjudged"].(int); ev["canary_requests"].(int)+ev["stable_requests"].(int) != judged*1000 {
		// Requests are counted over the judged seconds only, as the bad
		// counts are (newcomer review: 3219 requests against 102 errors
		// of 18 judged seconds).
		t.Errorf("evidence %v counts requests of unjudged seconds", ev)
	}
	if at, _ := run(0, 0, 10); at == 0 || at > 40 {
		t.Errorf("without warm-up the same errors rolled back at second %d; want soon after 30", at)
	}
	at, j := run(15*time.Second, 15, 30)
	if at == 0 || at < 45 || at > 60 {
		t.Fatalf("errors after the warm-up rolled back at second %d; want between 45 and 60", at)
	}
	if ev := j.evidence(); ev["warming_up"] != false {
		t.Errorf("evidence %v says warming up at a verdict after the warm-up", ev)
	}
}

// A judge made for a step tells, in its evidence, the alpha it spends and
// the rollout's it is a share of.
func TestJudgeEvidenceNamesItsShareOfTheBudget(t *testing.T) {
	seq := func() *shipgate.Analysis { return &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{}} }
	s := &shipgate.Strategy{Canary: &shipgate.CanaryStrategy{
		Steps:              []shipgate.CanaryStep{{SetWeight: new(int)}, {Analysis: seq()}, {Analysis: seq()}},
		BackgroundAnalysis: seq(),
	}}
	ro := &rolloutRun{budget: s.ErrorBudget()}
	j := ro.judgeFor(3, s.Canary.Steps[2].Analysis.Sequential)
	if again := ro.judgeFor(3, s.Canary.Steps[2].Analysis.Sequential); again != j {
		t.Error("a step's judge is made again: starting over would spend its alpha twice")
	}
	ev := j.evidence()
	if a := ev["alpha"].(float64); math.Abs(a-0.01/3) > 1e-12 || ev["rollout_alpha"] != 0.01 || ev["rollout_judges"] != 3 {
		t.Errorf("evidence %v: want alpha 0.01/3 of the rollout's 0.01 across 3 judges", ev)
	}
	if note := j.budgetNote(); note != "alpha 0.0033, its share of the rollout's 0.01 across 3 sequential judges" {
		t.Errorf("budget note %q", note)
	}
}

// poisson draws a Poisson count (Knuth; the means here are small).
func poisson(r *rand.Rand, mu float64) int {
	l, k, p := math.Exp(-mu), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// simulateRollouts runs n healthy canary rollouts of a strategy — weights
// 5, 10, 25 and 50 %, each followed by a 60 s analysis step, the background
// judge throughout — through the live judges, made from the strategy's
// budget as the runner makes them (or each with the strategy's whole
// alpha, the old way). It returns the share of rollouts any judge aborted.
func simulateRollouts(n int, alpha float64, split bool, seed uint64) float64 {
	seq := func() *shipgate.Analysis {
		return &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{Alpha: alpha}}
	}
	weights := []int{5, 10, 25, 50}
	var steps []shipgate.CanaryStep
	for _, w := range weights {
		steps = append(steps, shipgate.CanaryStep{SetWeight: &w}, shipgate.CanaryStep{Analysis: seq()})
	}
	s := &shipgate.Strategy{Canary: &shipgate.CanaryStrategy{Steps: steps, BackgroundAnalysis: seq()}}
	budget := s.ErrorBudget()
	if !split {
		budget = shipgate.ErrorBudget{}
	}
	const rate, errRate, slowRate, tailRate = 200, 0.01, 0.1, 0.01
	aborted := 0
	for run := range n {
		r := rand.New(rand.NewPCG(seed, uint64(run)))
		bg := newLiveJudge(s.Canary.BackgroundAnalysis.Sequential, "background", budget)
		sec, failed := 0, false
		for k, w := range weights {
			step := newLiveJudge(steps[2*k+1].Analysis.Sequential, shipgate.BudgetJudgeName(2*k+2), budget)
			changedAt := sec + 1
			for range 60 {
				sec++
				tk := analysis.Tick{Second: sec}
				c := rate * w / 100
				for _, a := range [...]struct{ arm, req int }{{analysis.Stable, rate - c}, {analysis.Canary, c}} {
					arm, req := a.arm, a.req
					tk.Arms[arm] = analysis.ArmTick{Requests: req,
						Errors: poisson(r, errRate*float64(req)), Slow: poisson(r, slowRate*float64(req)), Tail: poisson(r, tailRate*float64(req))}
				}
				for _, j := range []*liveJudge{bg, step} {
					j.tell(changedAt)
					if j.observe(&tk).Rollback {
						failed = true
					}
				}
				if failed {
					break
				}
			}
			if failed {
				break
			}
		}
		if failed {
			aborted++
		}
	}
	return float64(aborted) / float64(n)
}

// One error budget per rollout, measured: over 1,000 seeded healthy
// multi-step rollouts (background judge plus four step analyses), the
// share aborted by any judge stays within the rollout's alpha. At the
// default alpha, and at a large one where the bound is tight enough to
// see the difference the split makes.
func TestHealthyMultiStepRolloutsAbortWithinAlpha(t *testing.T) {
	for _, alpha := range []float64{shipgate.DefaultAlpha, 0.2} {
		got := simulateRollouts(1000, alpha, true, 12)
		t.Logf("alpha %g: %.1f%% of 1,000 healthy rollouts aborted (budget split over 5 judges)", alpha, 100*got)
		if got > alpha {
			t.Errorf("alpha %g: %.1f%% of healthy rollouts aborted, more than the rollout's alpha", alpha, 100*got)
		}
		// Before issue 12 every judge spent the whole alpha: 1.1% and 26.0%
		// on this seed, beyond the bound.
		t.Logf("alpha %g: %.1f%% aborted when every judge spends the whole alpha (before issue 12)", alpha, 100*simulateRollouts(1000, alpha, false, 12))
	}
}

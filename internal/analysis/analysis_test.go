package analysis

import (
	"math"
	"strings"
	"testing"
)

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
	for ; sec < 30 && !v.Rollback; sec++ {
		v = s.Observe(tick(sec, 900, 4, 50, 25))
	}
	// One second at most doubles a wealth (the canary's process may have
	// stalled), so a verdict needs at least log2(200) ≈ 8 such seconds.
	if !v.Rollback || sec < 8 || sec > 12 {
		t.Fatalf("a canary taking most errors was not rolled back in 8–12 s: %v after %d s", v, sec)
	}
	ev := s.Evidence()
	if ev["canary_errors"] != 25*sec || ev["all_errors"] != 29*sec || ev["e_errors"].(float64) < ev["threshold"].(float64) {
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
	if e, slow := s.EValues(); e != 1 || slow != 1 || s.TailEValue() != 1 {
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

// A judge's thresholds spend exactly its alpha across its metrics, and its
// summary names every metric with its threshold.
func TestSequentialSplitsAlpha(t *testing.T) {
	s := NewSequential(0.004)
	e, slow, tail := s.Thresholds()
	if spent := 1/e + 1/slow + 1/tail; math.Abs(spent-0.004) > 1e-12 {
		t.Errorf("thresholds %v, %v, %v spend %v, want alpha 0.004", e, slow, tail, spent)
	}
	for _, want := range []string{"(errors)", "(slow)", "(tail)", "357", "1667"} {
		if !strings.Contains(s.Summary(), want) {
			t.Errorf("summary %q lacks %q", s.Summary(), want)
		}
	}
	w := 0.0
	for _, b := range SequentialGrid {
		if b.C <= 0 || b.C >= 1 {
			t.Errorf("bet fraction %v outside (0, 1): a wealth could reach 0 or go negative", b.C)
		}
		w += b.Weight
	}
	if math.Abs(w-1) > 1e-12 {
		t.Errorf("bet weights sum to %v, want 1", w)
	}
}

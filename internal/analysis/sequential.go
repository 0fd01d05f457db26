package analysis

import (
	"fmt"
	"math"
)

// Sequential is shipgate's canary judge: an e-process per metric (errors,
// slow requests, tail requests) that stays valid when each arm's process
// hiccups on its own (a GC pause, a full pool), failing many of that arm's
// requests in the same second.
//
// Every second, the canary is compared with a virtual baseline of its own
// size drawn from stable: k = min(canary, stable requests) requests of each
// arm, the larger arm's bad count drawn hypergeometrically (virtual.go).
// With equal per-request quality and stall processes that are independent
// and alike per arm, the canary's count X and the virtual baseline's Y are
// exchangeable in that second, so h = (X − Y)/(2(X + Y)) (0 if both are 0)
// has mean 0 and every wealth
//
//	wealth ← wealth × (1 + λ·E[h]),  λ = 2c for a grid of c in (0, 1)
//
// is a non-negative martingale starting at 1; E[h] is h averaged over the
// hypergeometric draw, computed exactly, so the judge uses no random
// numbers and is no less powerful than any single draw (Jensen). The
// e-value of a metric is the mean of its wealths. By Ville's inequality it
// ever reaches 1/a with probability at most a. Alpha is split: errors get
// 70%, slow and tail requests 15% each (AlphaShares); the canary is
// rolled back when a metric's e-value reaches 1/(its share of alpha).
//
// One second can at most double a wealth: a single second in which the
// canary fails while stable does not is, under the null, as likely as one
// in which stable fails while the canary does not. That is the price of
// validity under stalls: no verdict before about log2(2/alpha) seconds.
type Sequential struct {
	// Alpha is the false-rollback bound this judge spends, across all its
	// metrics. A rollout with several judges gives each a share of its
	// budget (the shares summing to the rollout's alpha).
	Alpha float64

	grid  []Bet
	w     [numMetrics][]float64
	seen  [numMetrics]int // canary bad events
	total [numMetrics]int // canary and stable bad events
}

// The metrics a sequential judge bets on, in the order of AlphaShares.
const (
	metricErrors = iota
	metricSlow
	metricTail
	numMetrics
)

// AlphaShares is how a sequential judge splits its alpha across errors,
// slow requests (slower than stable's p90) and tail requests (slower than
// stable's p99). Errors get 70%: they are the most common regression and
// the one whose detection time matters most (docs/judge-benchmark.md has
// the settings measured).
var AlphaShares = [numMetrics]float64{0.7, 0.15, 0.15}

// Bet is one wealth process of a metric: its bet fraction C in (0, 1)
// (λ = 2C) and its Weight in the metric's e-value, the weighted mean of
// the wealths (weights sum to 1).
type Bet struct{ C, Weight float64 }

// SequentialGrid is the wealth processes of every metric. It leans to
// large bets: one second at most doubles a wealth, so a hard failure is
// caught only as fast as the boldest bet grows, and the exact average over
// the virtual baseline keeps bold bets from losing everything in a second
// that is merely unlucky.
var SequentialGrid = []Bet{{0.5, 0.1}, {0.9, 0.2}, {0.99, 0.7}}

// NewSequential returns a sequential judge whose false-rollback bound,
// over all its metrics and however long it runs, is alpha: the share of
// the rollout's error budget this judge may spend.
func NewSequential(alpha float64) *Sequential {
	s := &Sequential{Alpha: alpha, grid: SequentialGrid}
	for m := range s.w {
		s.w[m] = ones(len(s.grid))
	}
	return s
}

func ones(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// Name implements Judge.
func (s *Sequential) Name() string { return "sequential" }

// Threshold is the e-value at which a metric rolls the canary back.
func (s *Sequential) threshold(m int) float64 { return 1 / (s.Alpha * AlphaShares[m]) }

// bet updates the wealths of one metric with one second.
func (s *Sequential) bet(m int, canaryBad, canaryReqs, stableBad, stableReqs int) {
	s.seen[m] += canaryBad
	s.total[m] += canaryBad + stableBad
	d := pairedShift(canaryBad, canaryReqs, stableBad, stableReqs)
	if d == 0 {
		return
	}
	for i, b := range s.grid {
		s.w[m][i] *= 1 + 2*b.C*d
	}
}

// e is a metric's e-value: the weighted mean of its wealths.
func (s *Sequential) e(m int) float64 {
	sum := 0.0
	for i, b := range s.grid {
		sum += b.Weight * s.w[m][i]
	}
	return sum
}

// EValues returns the current e-values for errors and slow requests.
func (s *Sequential) EValues() (errors, slow float64) {
	return s.e(metricErrors), s.e(metricSlow)
}

// TailEValue returns the current e-value for tail requests.
func (s *Sequential) TailEValue() float64 { return s.e(metricTail) }

// Thresholds returns the e-values at which errors, slow and tail
// requests roll the canary back: 1/(alpha × the metric's share).
func (s *Sequential) Thresholds() (errors, slow, tail float64) {
	return s.threshold(metricErrors), s.threshold(metricSlow), s.threshold(metricTail)
}

// Summary says, in one clause, where every metric stands, for a decision
// that found no evidence against the canary.
func (s *Sequential) Summary() string {
	return fmt.Sprintf("e-values %.2g (errors), %.2g (slow) and %.2g (tail) stayed below %.0f, %.0f and %.0f",
		s.e(metricErrors), s.e(metricSlow), s.e(metricTail), s.threshold(metricErrors), s.threshold(metricSlow), s.threshold(metricTail))
}

// Observe implements Judge.
func (s *Sequential) Observe(t *Tick) Verdict {
	c, st := t.Arms[Canary], t.Arms[Stable]
	s.bet(metricErrors, c.Errors, c.Requests, st.Errors, st.Requests)
	s.bet(metricSlow, c.Slow, c.Requests, st.Slow, st.Requests)
	s.bet(metricTail, c.Tail, c.Requests, st.Tail, st.Requests)
	what := [numMetrics]string{
		"the canary's errors are disproportionate: it took %d of %d errors",
		"the canary is slower: it served %d of %d requests slower than stable's p90",
		"the canary's tail is slower: it served %d of %d requests slower than stable's p99",
	}
	for m := range numMetrics {
		e, th := s.e(m), s.threshold(m)
		if e >= th {
			return Verdict{Rollback: true, Reason: fmt.Sprintf(what[m]+", more than a stable sample of its size, second by second (e-value %.0f ≥ %.0f, false-rollback bound %.2g)", s.seen[m], s.total[m], e, th, s.Alpha*AlphaShares[m])}
		}
	}
	return Verdict{}
}

// Evidence is what a sequential decision rests on, for the record.
// threshold is the errors' threshold; slow and tail have their own.
func (s *Sequential) Evidence() map[string]any {
	return map[string]any{
		"alpha": s.Alpha, "threshold": s.threshold(metricErrors),
		"threshold_slow": s.threshold(metricSlow), "threshold_tail": s.threshold(metricTail),
		"e_errors": round(s.e(metricErrors)), "e_slow": round(s.e(metricSlow)), "e_tail": round(s.e(metricTail)),
		"canary_errors": s.seen[metricErrors], "all_errors": s.total[metricErrors],
		"canary_slow": s.seen[metricSlow], "all_slow": s.total[metricSlow],
		"canary_tail": s.seen[metricTail], "all_tail": s.total[metricTail],
	}
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }

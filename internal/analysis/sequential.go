package analysis

import (
	"fmt"
	"math"
)

// Sequential is shipgate's canary judge. Every second in which any bad
// event (an error; separately, a slow request) happened is one bet on the
// canary's share y of that second's bad events, against its share ρ of that
// second's traffic:
//
//	wealth ← wealth × (1 + λ·(y − ρ)),  λ = c/ρ, for a grid of c in (0, 1)
//
// If the canary is no worse than stable, a bad event lands in it with
// probability ρ, so E[y] = ρ and every wealth is a non-negative martingale
// starting at 1; so is their average (the e-value). By Ville's inequality
// the chance that it ever reaches 1/a is at most a, however long the canary
// runs and however often it is looked at. Errors and slow requests each get
// half of alpha; the canary is rolled back when either e-value reaches
// 2/alpha. Betting per second rather than per request bounds what one burst
// of correlated errors can do to the wealth.
type Sequential struct {
	Alpha  float64
	grid   []float64
	errW   []float64
	slowW  []float64
	seen   [2]int // canary bad events, per metric
	total  [2]int // all bad events, per metric
	reason string
}

// SequentialGrid is the bet fractions c the wealth processes use.
var SequentialGrid = []float64{0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9}

// NewSequential returns a sequential judge with false-rollback bound alpha.
func NewSequential(alpha float64) *Sequential {
	s := &Sequential{Alpha: alpha, grid: SequentialGrid}
	s.errW = ones(len(s.grid))
	s.slowW = ones(len(s.grid))
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

// bet updates the wealth processes with one second of one metric.
func (s *Sequential) bet(w []float64, canaryBad, stableBad int, rho float64) {
	b := canaryBad + stableBad
	if b == 0 || rho <= 0 || rho >= 1 {
		return
	}
	y := float64(canaryBad) / float64(b)
	for i, c := range s.grid {
		w[i] *= 1 + (c/rho)*(y-rho)
	}
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// EValues returns the current e-values for errors and slow requests.
func (s *Sequential) EValues() (errors, slow float64) { return mean(s.errW), mean(s.slowW) }

// Observe implements Judge.
func (s *Sequential) Observe(t *Tick) Verdict {
	c, st := t.Arms[Canary], t.Arms[Stable]
	if c.Requests+st.Requests == 0 {
		return Verdict{}
	}
	rho := float64(c.Requests) / float64(c.Requests+st.Requests)
	s.bet(s.errW, c.Errors, st.Errors, rho)
	s.bet(s.slowW, c.Slow, st.Slow, rho)
	s.seen[0] += c.Errors
	s.total[0] += c.Errors + st.Errors
	s.seen[1] += c.Slow
	s.total[1] += c.Slow + st.Slow
	threshold := 2 / s.Alpha
	eErr, eSlow := s.EValues()
	switch {
	case eErr >= threshold:
		return Verdict{Rollback: true, Reason: fmt.Sprintf("the canary's errors are disproportionate: it took %d of %d errors (e-value %.0f ≥ %.0f, false-rollback bound %.2g)", s.seen[0], s.total[0], eErr, threshold, s.Alpha/2)}
	case eSlow >= threshold:
		return Verdict{Rollback: true, Reason: fmt.Sprintf("the canary is slower: it served %d of %d requests slower than stable's p90 (e-value %.0f ≥ %.0f, false-rollback bound %.2g)", s.seen[1], s.total[1], eSlow, threshold, s.Alpha/2)}
	}
	return Verdict{}
}

// Evidence is what a sequential decision rests on, for the record.
func (s *Sequential) Evidence() map[string]any {
	eErr, eSlow := s.EValues()
	return map[string]any{
		"alpha": s.Alpha, "threshold": 2 / s.Alpha,
		"e_errors": round(eErr), "e_slow": round(eSlow),
		"canary_errors": s.seen[0], "all_errors": s.total[0],
		"canary_slow": s.seen[1], "all_slow": s.total[1],
	}
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }

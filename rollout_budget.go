package shipgate

import (
	"math"
	"strconv"
	"time"
)

// MaxSequentialWarmup bounds a sequential analysis's warm-up: a judge that
// ignores the canary for longer than this after every weight change is
// hardly watching it.
const MaxSequentialWarmup = Duration(10 * time.Minute)

// WarmupSeconds is the warm-up in whole seconds, rounded up: the judges
// count time in one-second ticks.
func (s *SequentialAnalysis) WarmupSeconds() int {
	if s == nil || s.Warmup <= 0 {
		return 0
	}
	return int(math.Ceil(s.Warmup.Std().Seconds()))
}

// EffectiveAlpha is the alpha the analysis declares, or DefaultAlpha.
func (s *SequentialAnalysis) EffectiveAlpha() float64 {
	if s == nil || s.Alpha <= 0 {
		return DefaultAlpha
	}
	return s.Alpha
}

// ErrorBudget is how a rollout's false-rollback bound is shared by the
// sequential judges its strategy runs: the background analysis's judge and
// the judge of each analysis step. Each judge alone keeps its chance of
// aborting a canary no worse than stable below its share; by the union
// bound, the chance that any of them aborts a healthy rollout stays below
// Alpha, the rollout's bound.
//
// The rule: Alpha is the smallest alpha any of the judges declares
// (DefaultAlpha for those that declare none), so the rollout is never held
// to a looser bound than one of its analyses asks for; it is split in
// proportion to the declared alphas, so a judge declared twice as lenient
// as another keeps twice its share. With equal alphas every judge gets
// Alpha/Judges.
type ErrorBudget struct {
	// Alpha is the rollout's false-rollback bound.
	Alpha float64
	// Shares is each judge's alpha, in the order Judges lists them.
	Shares []float64
	// Judges names the judges (BudgetJudgeName): "background" and "step
	// N", numbered from 1 as the rollout's steps are; blue-green's analysis
	// is "step 1", its only step.
	Judges []string
}

// Share returns the alpha of the named judge, and false when the strategy
// runs no such judge.
func (b ErrorBudget) Share(judge string) (float64, bool) {
	for i, j := range b.Judges {
		if j == judge {
			return b.Shares[i], true
		}
	}
	return 0, false
}

// BudgetJudgeName names the judge of step n (from 1) in an ErrorBudget;
// n 0 is the background analysis's judge.
func BudgetJudgeName(n int) string {
	if n == 0 {
		return "background"
	}
	return "step " + strconv.Itoa(n)
}

// ErrorBudget splits the rollout's alpha across the sequential judges the
// strategy will run, known from the strategy alone when the rollout starts.
// A strategy without sequential analyses has an empty budget. Threshold
// metrics have no alpha and are not part of it.
func (s *Strategy) ErrorBudget() ErrorBudget {
	var b ErrorBudget
	var declared []float64
	add := func(name string, a *Analysis) {
		if a == nil || a.Sequential == nil {
			return
		}
		b.Judges = append(b.Judges, name)
		declared = append(declared, a.Sequential.EffectiveAlpha())
	}
	switch {
	case s == nil:
	case s.Canary != nil:
		add(BudgetJudgeName(0), s.Canary.BackgroundAnalysis)
		for i, st := range s.Canary.Steps {
			add(BudgetJudgeName(i+1), st.Analysis)
		}
	case s.BlueGreen != nil:
		add(BudgetJudgeName(1), s.BlueGreen.Analysis)
	}
	if len(declared) == 0 {
		return b
	}
	b.Alpha = declared[0]
	sum := 0.0
	for _, a := range declared {
		b.Alpha = min(b.Alpha, a)
		sum += a
	}
	for _, a := range declared {
		b.Shares = append(b.Shares, b.Alpha*a/sum)
	}
	return b
}

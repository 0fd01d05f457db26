package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/analysis"
)

// liveJudge is one sequential judge of a rollout: the background
// analysis's, or one analysis step's. It is made once per rollout with its
// share of the rollout's error budget and its warm-up, and kept when its
// step's analysis starts over after a pause, so that starting over never
// spends the budget twice.
type liveJudge struct {
	name  string // in the budget: "background", "step N"
	judge analysis.Judge
	ev    interface {
		Evidence() map[string]any
		Summary() string
	}
	budget shipgate.ErrorBudget
	warmup int // seconds
	// progress, when set, takes where the judge stands after every
	// second it judged (nil: the analysis ended).
	progress func(*shipgate.AnalysisProgress)

	told      bool
	changedAt int // the weight change the judge was last told of
	prev      sample
	have      bool
	// Requests judged and seconds passed over while warming up.
	canaryReq, stableReq, unjudged int
	warming                        bool // the last tick fell in a warm-up
}

// newLiveJudge makes the judge of cfg with its share of b (cfg's own
// alpha when b does not list name, which a strategy's own budget always
// does).
func newLiveJudge(cfg *shipgate.SequentialAnalysis, name string, b shipgate.ErrorBudget) *liveJudge {
	alpha, ok := b.Share(name)
	if !ok {
		alpha = cfg.EffectiveAlpha()
		b = shipgate.ErrorBudget{Alpha: alpha, Shares: []float64{alpha}, Judges: []string{name}}
	}
	seq := analysis.NewSequential(alpha)
	return &liveJudge{name: name, judge: analysis.NewWarmup(seq, cfg.WarmupSeconds()), ev: seq, budget: b, warmup: cfg.WarmupSeconds()}
}

// tell passes on the latest weight change (a sample's ChangedAt) to a
// judge that wants it, once per change.
func (j *liveJudge) tell(changedAt int) {
	if j.told && changedAt == j.changedAt {
		return
	}
	j.told, j.changedAt = true, changedAt
	if wa, ok := j.judge.(analysis.WeightAware); ok {
		wa.WeightChanged(changedAt)
	}
}

// observe judges one tick.
// Requests are counted over the judged seconds only, as the judge's own
// bad counts are, so a decision's evidence adds up.
func (j *liveJudge) observe(tk *analysis.Tick) analysis.Verdict {
	w, ok := j.judge.(*analysis.Warmup)
	j.warming = ok && w.Warming(tk.Second)
	if j.warming {
		j.unjudged++
	} else {
		j.canaryReq += tk.Arms[analysis.Canary].Requests
		j.stableReq += tk.Arms[analysis.Stable].Requests
	}
	return j.judge.Observe(tk)
}

// feed judges the second between the previous sample and s, telling the
// judge first of a weight change s saw. The first sample only starts.
func (j *liveJudge) feed(t *traffic, s sample) analysis.Verdict {
	j.tell(s.ChangedAt)
	if !j.have {
		j.prev, j.have = s, true
		return analysis.Verdict{}
	}
	tk := t.tick(j.prev, s)
	j.prev = s
	return j.observe(&tk)
}

// evidence is what a decision of this judge rests on: the judge's own
// evidence (its alpha is its share), the rollout's budget, and the
// warm-up.
func (j *liveJudge) evidence() map[string]any {
	ev := j.ev.Evidence()
	ev["canary_requests"], ev["stable_requests"] = j.canaryReq, j.stableReq
	ev["rollout_alpha"], ev["rollout_judges"] = j.budget.Alpha, len(j.budget.Judges)
	ev["warmup_seconds"], ev["warming_up"], ev["seconds_unjudged"] = j.warmup, j.warming, j.unjudged
	return ev
}

// budgetNote says how the judge's alpha came from the rollout's.
func (j *liveJudge) budgetNote() string {
	a, _ := j.budget.Share(j.name)
	if len(j.budget.Judges) <= 1 {
		return fmt.Sprintf("alpha %.2g", a)
	}
	return fmt.Sprintf("alpha %.2g, its share of the rollout's %.2g across %d sequential judges", a, j.budget.Alpha, len(j.budget.Judges))
}

// judgeFor returns the rollout's judge of step n (0: the background
// analysis), made on first use.
func (ro *rolloutRun) judgeFor(n int, cfg *shipgate.SequentialAnalysis) *liveJudge {
	name := shipgate.BudgetJudgeName(n)
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if j := ro.judges[name]; j != nil {
		return j
	}
	if ro.judges == nil {
		ro.judges = map[string]*liveJudge{}
	}
	j := newLiveJudge(cfg, name, ro.budget)
	key := progressKey("sequential", n, "errors+latency")
	j.progress = func(p *shipgate.AnalysisProgress) { ro.setProgress(key, p) }
	ro.judges[name] = j
	return j
}

// sequential runs a judge on every second of the rollout until it finds
// the canary worse than stable (failed), a blocking analysis has watched
// for its duration (successful), or ctx ends (successful: no evidence
// against the canary).
func (t *traffic) sequential(ctx context.Context, j *liveJudge, cfg *shipgate.SequentialAnalysis, step int, blocking bool) shipgate.AnalysisDecision {
	d := cfg.Duration.Std()
	if d <= 0 {
		d = shipgate.DefaultSequentialDuration.Std()
	}
	ch, stop := t.subscribe()
	defer stop()
	if j.progress != nil {
		defer j.progress(nil)
	}
	j.have = false // an analysis that starts over skips the seconds it was stopped
	start := time.Now()
	decide := func(phase, summary string) shipgate.AnalysisDecision {
		ev := j.evidence()
		ev["seconds"] = int(time.Since(start).Round(time.Second) / time.Second)
		return shipgate.AnalysisDecision{At: time.Now().UTC(), Step: step, Judge: "sequential", Metric: "errors+latency", Phase: phase, Summary: summary, Evidence: ev}
	}
	var deadline <-chan time.Time
	if blocking {
		tm := time.NewTimer(d)
		defer tm.Stop()
		deadline = tm.C
	}
	pass := func() shipgate.AnalysisDecision {
		warm := ""
		if j.unjudged > 0 {
			warm = fmt.Sprintf("; %d seconds of warm-up were not judged", j.unjudged)
		}
		return decide(shipgate.AnalysisSuccessful, fmt.Sprintf("no evidence the canary is worse than stable after %s: %s over %d canary and %d stable requests (%s)%s",
			time.Since(start).Round(time.Second), j.ev.Summary(), j.canaryReq, j.stableReq, j.budgetNote(), warm))
	}
	for {
		select {
		case <-ctx.Done():
			return pass()
		case <-deadline:
			return pass()
		case s := <-ch:
			if v := j.feed(t, s); v.Rollback {
				warm := ""
				if j.unjudged > 0 {
					warm = fmt.Sprintf("; %d seconds of warm-up were not judged", j.unjudged)
				}
				return decide(shipgate.AnalysisFailed, fmt.Sprintf("%s, after %s (%s)%s", v.Reason, time.Since(start).Round(time.Second), j.budgetNote(), warm))
			}
			if j.progress != nil {
				j.progress(j.standing(step))
			}
		}
	}
}

// standing is where the judge stands now: its e-values against their
// thresholds, by kind.
func (j *liveJudge) standing(step int) *shipgate.AnalysisProgress {
	ev := j.ev.Evidence()
	num := func(k string) float64 { f, _ := ev[k].(float64); return f }
	return &shipgate.AnalysisProgress{Step: step, Background: step == 0, Judge: "sequential", Metric: "errors+latency",
		E:         map[string]float64{"errors": num("e_errors"), "slow": num("e_slow"), "tail": num("e_tail")},
		Threshold: map[string]float64{"errors": num("threshold"), "slow": num("threshold_slow"), "tail": num("threshold_tail")}}
}

package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/router"
)

// runCanary walks the canary steps with the background analysis watching
// throughout, then promotes. Steps are numbered from 1, as people count
// them, in the status, the decisions, the logs and the job's reason alike.
func (ro *rolloutRun) runCanary(ctx context.Context, c *shipgate.CanaryStrategy) shipgate.JobOutcome {
	ro.set(func(s *shipgate.RolloutStatus) { s.Phase = shipgate.RolloutProgressing })
	ro.logs.flushLine("system", fmt.Sprintf("canary of %s against stable %s: %d steps", ro.canary.Version, ro.stable.Version, len(c.Steps)))
	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	if c.BackgroundAnalysis != nil {
		go ro.background(bgCtx, c.BackgroundAnalysis)
	}
	for i, step := range c.Steps {
		n := i + 1
		ro.set(func(s *shipgate.RolloutStatus) { s.Step, s.Paused, s.PauseUntil = n, "", nil })
		switch {
		case step.SetWeight != nil:
			w := *step.SetWeight
			ro.svc.Router.Set(ro.key, router.Table{Stable: ro.stable, Canary: ro.canary, Weight: w})
			ro.set(func(s *shipgate.RolloutStatus) { s.Weight = w })
			ro.sendNow(ctx) // each weight is reported with its own step, not merged into the next one
			ro.logs.flushLine("system", fmt.Sprintf("step %d: canary %s takes %d%% of traffic", n, ro.canary.Version, w))
			if out, done := ro.checkBackground(ctx, n); done {
				return out
			}
		case step.Pause != nil && step.Pause.Manual():
			if out, done := ro.pause(ctx, n, "manual pause"); done {
				return out
			}
		case step.Pause != nil:
			d := step.Pause.Duration.Std()
			until := time.Now().Add(d).UTC()
			ro.set(func(s *shipgate.RolloutStatus) { s.PauseUntil = &until })
			ro.logs.flushLine("system", fmt.Sprintf("step %d: pause for %s", n, d))
			if out, done := ro.wait(ctx, n, d); done {
				return out
			}
		case step.Analysis != nil:
			ro.logs.flushLine("system", fmt.Sprintf("step %d: analysis", n))
			if out, done := ro.stepAnalysis(ctx, n, step.Analysis); done {
				return out
			}
		}
	}
	if out, done := ro.checkBackground(ctx, len(c.Steps)); done {
		return out
	}
	return ro.promote(0)
}

// runBlueGreen starts the new version on the preview address, analyses
// it there if asked, then switches all traffic at once; the old version
// stays on standby for scale_down_delay. It is one step: step 1 of 1.
func (ro *rolloutRun) runBlueGreen(ctx context.Context, b *shipgate.BlueGreenStrategy) shipgate.JobOutcome {
	const step = 1
	ro.set(func(s *shipgate.RolloutStatus) { s.Step, s.Steps = step, 1 })
	if err := ro.svc.Router.ServePreview(ro.key, b.Preview); err != nil {
		return ro.abort(ctx, step, fmt.Sprintf("cannot serve the preview on %s: %v", b.Preview, err), nil)
	}
	defer ro.svc.Router.ClosePreview(ro.key)
	ro.svc.Router.Set(ro.key, router.Table{Stable: ro.stable, Preview: ro.canary})
	ro.set(func(s *shipgate.RolloutStatus) { s.Phase = shipgate.RolloutProgressing })
	ro.logs.flushLine("system", fmt.Sprintf("blue-green: %s on preview %s, stable %s keeps all traffic", ro.canary.Version, ro.svc.Router.PreviewAddr(ro.key), ro.stable.Version))
	if b.Analysis != nil {
		d := ro.analyse(ctx, b.Analysis, step, true)
		if ctx.Err() != nil {
			return ro.abort(ctx, step, stopReason(ctx), nil)
		}
		switch d.Phase {
		case shipgate.AnalysisFailed, shipgate.AnalysisError:
			return ro.abort(ctx, step, d.Summary, &d)
		case shipgate.AnalysisInconclusive:
			if out, done := ro.pause(ctx, step, "analysis inconclusive: "+d.Summary); done {
				return out
			}
		}
	}
	return ro.promote(b.ScaleDownDelay.Std())
}

// stepAnalysis runs a blocking analysis step while the background analysis
// keeps watching: a background failure aborts at once; a background
// inconclusive result pauses the rollout, and after the promotion the
// step's analysis starts over.
func (ro *rolloutRun) stepAnalysis(ctx context.Context, i int, an *shipgate.Analysis) (shipgate.JobOutcome, bool) {
	for {
		actx, cancel := context.WithCancel(ctx)
		res := make(chan shipgate.AnalysisDecision, 1)
		go func() { res <- ro.analyse(actx, an, i, true) }()
		var d shipgate.AnalysisDecision
		select {
		case d = <-res:
			cancel()
		case m := <-ro.bg:
			cancel()
			<-res
			if out, done := ro.onBackground(ctx, i, m); done {
				return out, true
			}
			continue // promoted past the background's pause: analyse this step again
		case <-ctx.Done():
			cancel()
			<-res
			return ro.abort(ctx, i, stopReason(ctx), nil), true
		}
		if ctx.Err() != nil {
			return ro.abort(ctx, i, stopReason(ctx), nil), true
		}
		switch d.Phase {
		case shipgate.AnalysisFailed, shipgate.AnalysisError:
			return ro.abort(ctx, i, d.Summary, &d), true
		case shipgate.AnalysisInconclusive:
			return ro.pause(ctx, i, "analysis inconclusive: "+d.Summary)
		}
		return shipgate.JobOutcome{}, false
	}
}

// bgResult is a decision of the background analysis that the steps must
// act on. For an inconclusive one, resume is closed once the pause it
// caused has been promoted, and that metric watches again.
type bgResult struct {
	d      shipgate.AnalysisDecision
	resume chan struct{}
}

// background runs every part of the background analysis for the whole
// rollout, each on its own: the sequential judge until the rollout ends or
// it finds the canary worse, each metric until it ends. A failure goes to
// the steps, which abort; an inconclusive metric pauses the rollout and,
// once its own pause is promoted, measures again. The other parts keep
// watching meanwhile. Its decisions are marked Background and are
// recorded by the steps when they act on them (takeBackground), with the
// step they act at.
func (ro *rolloutRun) background(ctx context.Context, an *shipgate.Analysis) {
	if an.Sequential != nil {
		j := ro.judgeFor(0, an.Sequential)
		go func() {
			d := ro.tr.sequential(ctx, j, an.Sequential, 0, false)
			if ctx.Err() == nil && d.Phase != shipgate.AnalysisSuccessful {
				d.Background = true
				ro.sendBackground(ctx, bgResult{d: d})
			}
		}()
	}
	for _, m := range an.Metrics {
		go func() {
			for ctx.Err() == nil {
				d := ro.runMetric(ctx, m, 0)
				if ctx.Err() != nil || d.Phase == shipgate.AnalysisSuccessful {
					return
				}
				d.Background = true
				r := bgResult{d: d}
				if d.Phase == shipgate.AnalysisInconclusive {
					r.resume = make(chan struct{})
				}
				if !ro.sendBackground(ctx, r) || r.resume == nil {
					return
				}
				select {
				case <-r.resume:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

func (ro *rolloutRun) sendBackground(ctx context.Context, r bgResult) bool {
	select {
	case ro.bg <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// checkBackground aborts or pauses when the background analysis has
// decided against the canary.
func (ro *rolloutRun) checkBackground(ctx context.Context, step int) (shipgate.JobOutcome, bool) {
	select {
	case m := <-ro.bg:
		return ro.onBackground(ctx, step, m)
	default:
		return shipgate.JobOutcome{}, false
	}
}

// takeBackground records a background decision the steps act on at step:
// the decision names that step, as the pause or abort it causes does.
func (ro *rolloutRun) takeBackground(step int, m *bgResult) {
	m.d.Step = step
	ro.record(m.d)
	ro.logs.flushLine("system", fmt.Sprintf("step %d: background %s %s: %s", step, m.d.Judge, m.d.Phase, m.d.Summary))
}

func (ro *rolloutRun) onBackground(ctx context.Context, step int, m bgResult) (shipgate.JobOutcome, bool) {
	ro.takeBackground(step, &m)
	if m.d.Phase == shipgate.AnalysisInconclusive {
		return ro.pause(ctx, step, "background analysis inconclusive: "+m.d.Summary, m.resume)
	}
	return ro.abort(ctx, step, m.d.Summary, &m.d), true
}

// wait sleeps for d while the background analysis watches.
func (ro *rolloutRun) wait(ctx context.Context, step int, d time.Duration) (shipgate.JobOutcome, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return shipgate.JobOutcome{}, false
		case m := <-ro.bg:
			if out, done := ro.onBackground(ctx, step, m); done {
				return out, true
			}
		case <-ctx.Done():
			return ro.abort(ctx, step, stopReason(ctx), nil), true
		}
	}
}

// pause waits for `shipgate promote`. Every pause has its own number, so
// a promotion is for one pause only: a second pause at the same step (an
// inconclusive analysis after a manual pause) waits for its own. An
// inconclusive background result that arrives while paused is settled by
// the same promotion; resume lists the background metrics to restart
// once it comes.
func (ro *rolloutRun) pause(ctx context.Context, step int, why string, resume ...chan struct{}) (shipgate.JobOutcome, bool) {
	ro.mu.Lock()
	ro.pauses++
	n := ro.pauses
	ro.mu.Unlock()
	ro.set(func(s *shipgate.RolloutStatus) {
		s.Phase, s.Step, s.Pause, s.Paused = shipgate.RolloutPaused, step, n, why
	})
	ro.logs.flushLine("system", fmt.Sprintf("step %d: paused (%s): waiting for `shipgate promote %d`", step, why, ro.a.Key.ReleaseID))
	for ro.promoted.Load() < int64(n) {
		select {
		case <-ro.promotedCh:
		case m := <-ro.bg:
			ro.takeBackground(step, &m)
			if m.d.Phase != shipgate.AnalysisInconclusive {
				return ro.abort(ctx, step, m.d.Summary, &m.d), true
			}
			resume = append(resume, m.resume)
		case <-ctx.Done():
			return ro.abort(ctx, step, stopReason(ctx), nil), true
		}
	}
	ro.logs.flushLine("system", fmt.Sprintf("step %d: promoted", step))
	ro.set(func(s *shipgate.RolloutStatus) { s.Phase, s.Paused = shipgate.RolloutProgressing, "" })
	for _, r := range resume {
		if r != nil {
			close(r)
		}
	}
	return shipgate.JobOutcome{}, false
}

package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/router"
)

// runCanary walks the canary steps with the background analysis watching
// throughout, then promotes.
func (ro *rolloutRun) runCanary(ctx context.Context, c *shipgate.CanaryStrategy) shipgate.JobOutcome {
	ro.set(func(s *shipgate.RolloutStatus) { s.Phase = shipgate.RolloutProgressing })
	ro.logs.flushLine("system", fmt.Sprintf("canary of %s against stable %s: %d steps", ro.canary.Version, ro.stable.Version, len(c.Steps)))
	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	if c.BackgroundAnalysis != nil {
		go ro.background(bgCtx, c.BackgroundAnalysis)
	}
	for i, step := range c.Steps {
		ro.set(func(s *shipgate.RolloutStatus) { s.Step, s.Paused, s.PauseUntil = i, "", nil })
		switch {
		case step.SetWeight != nil:
			w := *step.SetWeight
			ro.svc.Router.Set(ro.key, router.Table{Stable: ro.stable, Canary: ro.canary, Weight: w})
			ro.set(func(s *shipgate.RolloutStatus) { s.Weight = w })
			ro.sendNow(ctx) // each weight is reported with its own step, not merged into the next one
			ro.logs.flushLine("system", fmt.Sprintf("step %d: canary %s takes %d%% of traffic", i+1, ro.canary.Version, w))
			if out, done := ro.checkBackground(ctx, i); done {
				return out
			}
		case step.Pause != nil && step.Pause.Manual():
			if out, done := ro.pause(ctx, i, "manual pause"); done {
				return out
			}
		case step.Pause != nil:
			d := step.Pause.Duration.Std()
			until := time.Now().Add(d).UTC()
			ro.set(func(s *shipgate.RolloutStatus) { s.PauseUntil = &until })
			ro.logs.flushLine("system", fmt.Sprintf("step %d: pause for %s", i+1, d))
			if out, done := ro.wait(ctx, i, d); done {
				return out
			}
		case step.Analysis != nil:
			ro.logs.flushLine("system", fmt.Sprintf("step %d: analysis", i+1))
			actx, cancel := context.WithCancel(ctx)
			res := make(chan shipgate.AnalysisDecision, 1)
			go func() { res <- ro.analyse(actx, step.Analysis, i, true) }()
			var d shipgate.AnalysisDecision
			select {
			case d = <-res:
			case bd := <-ro.bg:
				cancel()
				<-res
				if out, done := ro.onBackground(ctx, i, bd); done {
					return out
				}
				// Inconclusive background analysis, promoted: redo this step's analysis.
				actx, cancel = context.WithCancel(ctx)
				go func() { res <- ro.analyse(actx, step.Analysis, i, true) }()
				d = <-res
			case <-ctx.Done():
				cancel()
				<-res
				return ro.abort(ctx, i, stopReason(ctx), nil)
			}
			cancel()
			if ctx.Err() != nil {
				return ro.abort(ctx, i, stopReason(ctx), nil)
			}
			switch d.Phase {
			case shipgate.AnalysisFailed, shipgate.AnalysisError:
				return ro.abort(ctx, i, d.Summary, &d)
			case shipgate.AnalysisInconclusive:
				if out, done := ro.pause(ctx, i, "analysis inconclusive: "+d.Summary); done {
					return out
				}
			}
		}
	}
	if out, done := ro.checkBackground(ctx, len(c.Steps)-1); done {
		return out
	}
	return ro.promote(0)
}

// runBlueGreen starts the new version on the preview address, analyses
// it there if asked, then switches all traffic at once; the old version
// stays on standby for scale_down_delay.
func (ro *rolloutRun) runBlueGreen(ctx context.Context, b *shipgate.BlueGreenStrategy) shipgate.JobOutcome {
	if err := ro.svc.Router.ServePreview(ro.key, b.Preview); err != nil {
		return ro.abort(ctx, 0, fmt.Sprintf("cannot serve the preview on %s: %v", b.Preview, err), nil)
	}
	defer ro.svc.Router.ClosePreview(ro.key)
	ro.svc.Router.Set(ro.key, router.Table{Stable: ro.stable, Preview: ro.canary})
	ro.set(func(s *shipgate.RolloutStatus) { s.Phase, s.Steps = shipgate.RolloutProgressing, 1 })
	ro.logs.flushLine("system", fmt.Sprintf("blue-green: %s on preview %s, stable %s keeps all traffic", ro.canary.Version, ro.svc.Router.PreviewAddr(ro.key), ro.stable.Version))
	if b.Analysis != nil {
		d := ro.analyse(ctx, b.Analysis, 0, true)
		if ctx.Err() != nil {
			return ro.abort(ctx, 0, stopReason(ctx), nil)
		}
		switch d.Phase {
		case shipgate.AnalysisFailed, shipgate.AnalysisError:
			return ro.abort(ctx, 0, d.Summary, &d)
		case shipgate.AnalysisInconclusive:
			if out, done := ro.pause(ctx, 0, "analysis inconclusive: "+d.Summary); done {
				return out
			}
		}
	}
	return ro.promote(b.ScaleDownDelay.Std())
}

// background runs the background analysis for the whole rollout. A
// failure goes to the steps, which abort; an inconclusive result pauses
// the rollout, and once a person promoted it the analysis watches again.
func (ro *rolloutRun) background(ctx context.Context, an *shipgate.Analysis) {
	for ctx.Err() == nil {
		select {
		case <-ro.resumed: // an old promotion must not count for the next pause
		default:
		}
		d := ro.analyse(ctx, an, -1, false)
		if ctx.Err() != nil || d.Phase == shipgate.AnalysisSuccessful {
			return // the rollout ended, or every part ended well
		}
		select {
		case ro.bg <- d:
		case <-ctx.Done():
			return
		}
		if d.Phase != shipgate.AnalysisInconclusive {
			return
		}
		select {
		case <-ro.resumed:
		case <-ctx.Done():
			return
		}
	}
}

// checkBackground aborts or pauses when the background analysis has
// decided against the canary.
func (ro *rolloutRun) checkBackground(ctx context.Context, step int) (shipgate.JobOutcome, bool) {
	select {
	case d := <-ro.bg:
		return ro.onBackground(ctx, step, d)
	default:
		return shipgate.JobOutcome{}, false
	}
}

func (ro *rolloutRun) onBackground(ctx context.Context, step int, d shipgate.AnalysisDecision) (shipgate.JobOutcome, bool) {
	if d.Phase == shipgate.AnalysisInconclusive {
		return ro.pause(ctx, step, "background analysis inconclusive: "+d.Summary)
	}
	return ro.abort(ctx, step, d.Summary, &d), true
}

// wait sleeps for d while the background analysis watches.
func (ro *rolloutRun) wait(ctx context.Context, step int, d time.Duration) (shipgate.JobOutcome, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return shipgate.JobOutcome{}, false
		case bd := <-ro.bg:
			if out, done := ro.onBackground(ctx, step, bd); done {
				return out, true
			}
		case <-ctx.Done():
			return ro.abort(ctx, step, stopReason(ctx), nil), true
		}
	}
}

// pause waits for `shipgate promote`. Every pause has its own number, so
// a promotion is for one pause only: a second pause at the same step (an
// inconclusive analysis after a manual pause) waits for its own.
func (ro *rolloutRun) pause(ctx context.Context, step int, why string) (shipgate.JobOutcome, bool) {
	ro.mu.Lock()
	ro.pauses++
	n := ro.pauses
	ro.mu.Unlock()
	ro.set(func(s *shipgate.RolloutStatus) {
		s.Phase, s.Step, s.Pause, s.Paused = shipgate.RolloutPaused, step, n, why
	})
	ro.logs.flushLine("system", fmt.Sprintf("step %d: paused (%s): waiting for `shipgate promote %d`", step+1, why, ro.a.Key.ReleaseID))
	for ro.promoted.Load() < int64(n) {
		select {
		case <-ro.promotedCh:
		case bd := <-ro.bg:
			// An inconclusive background result while paused is settled by
			// the same promotion.
			if bd.Phase != shipgate.AnalysisInconclusive {
				return ro.abort(ctx, step, bd.Summary, &bd), true
			}
		case <-ctx.Done():
			return ro.abort(ctx, step, stopReason(ctx), nil), true
		}
	}
	ro.logs.flushLine("system", fmt.Sprintf("step %d: promoted", step+1))
	ro.set(func(s *shipgate.RolloutStatus) { s.Phase, s.Paused = shipgate.RolloutProgressing, "" })
	select {
	case ro.resumed <- struct{}{}:
	default:
	}
	return shipgate.JobOutcome{}, false
}

package runner

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/router"
)

// maxDecisions is how many analysis decisions a status carries.
const maxDecisions = 20

// set changes the status and asks for a report now.
func (ro *rolloutRun) set(f func(s *shipgate.RolloutStatus)) {
	ro.mu.Lock()
	f(&ro.status)
	ro.mu.Unlock()
	select {
	case ro.kick <- struct{}{}:
	default:
	}
}

// record adds an analysis decision to the status.
func (ro *rolloutRun) record(d shipgate.AnalysisDecision) {
	// Masked once, here: summaries and evidence may quote a provider's
	// answer or a service's log, and they reach the audit log.
	m := ro.logs.masker
	d.Summary = m.mask(d.Summary)
	d.Evidence = maskValue(m, d.Evidence).(map[string]any)
	ro.set(func(s *shipgate.RolloutStatus) {
		s.Decisions = append(s.Decisions, d)
		if n := len(s.Decisions); n > maxDecisions {
			s.Decisions = append(s.Decisions[:0], s.Decisions[n-maxDecisions:]...)
		}
	})
}

// maskValue returns v with every string in it masked: evidence holds
// provider messages (an HTTP metric's answer, a Prometheus error), and it
// goes into the audit log, which cannot be scrubbed afterwards.
func maskValue(m *masker, v any) any {
	switch x := v.(type) {
	case string:
		return m.mask(x)
	case map[string]any:
		if x == nil {
			return x
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = maskValue(m, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskValue(m, e)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = m.mask(e)
		}
		return out
	}
	return v
}

// snapshot returns the status to send, with a new seq and the traffic
// since the rollout started.
func (ro *rolloutRun) snapshot() shipgate.RolloutStatus {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	ro.status.Seq++
	ro.status.UpdatedAt = time.Now().UTC()
	s := ro.status
	// Messages may quote a service's log, which may print a secret input.
	m := ro.logs.masker
	s.Message, s.Paused = m.mask(s.Message), m.mask(s.Paused)
	s.Decisions = append([]shipgate.AnalysisDecision(nil), s.Decisions...) // masked by record
	s.Progress = nil
	for _, k := range slices.Sorted(maps.Keys(ro.progress)) {
		s.Progress = append(s.Progress, ro.progress[k])
	}
	if s.Traffic = ro.final; s.Traffic == nil {
		s.Traffic = ro.trafficNow()
		if s.Phase == shipgate.RolloutPromoted || s.Phase == shipgate.RolloutAborted {
			ro.final = s.Traffic
		}
	}
	return s
}

// trafficNow sums what the router counted for each version since the
// rollout started.
func (ro *rolloutRun) trafficNow() []shipgate.VersionTraffic {
	var out []shipgate.VersionTraffic
	var start sample
	if ro.tr != nil {
		start, _ = ro.tr.first()
	}
	var slowStable, slowCanary int64
	if ro.tr != nil {
		slowStable, slowCanary = ro.tr.slowCounts()
	}
	add := func(b *router.Backend, role string, from router.Counters, slow int64) {
		if b == nil {
			return
		}
		c := ro.svc.Router.Counters(b.ID).Sub(from)
		out = append(out, shipgate.VersionTraffic{Version: b.Version, Role: role, Requests: int64(c.Requests), Errors: int64(c.Errors), Slow: slow,
			P50MS: ms(c.Quantile(0.5)), P90MS: ms(c.Quantile(0.9))})
	}
	add(ro.stable, "stable", start.Stable, slowStable)
	if ro.canary != nil && (ro.stable == nil || ro.canary.ID != ro.stable.ID) {
		add(ro.canary, "canary", start.Canary, slowCanary)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// reportLoop sends the status every second and whenever it changes, and
// takes promotions from the replies.
func (ro *rolloutRun) reportLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ro.kick:
		}
		ro.send(ctx)
	}
}

// send delivers one status report.
func (ro *rolloutRun) send(ctx context.Context) error {
	st := ro.snapshot()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reply, err := ro.r.Coord.Rollout(cctx, ro.r.Info.Name, ro.a.Key, st)
	if err != nil {
		ro.r.Logger.Warn("could not report the rollout", "release", ro.a.Key.ReleaseID, "err", err)
		return err
	}
	// Reports go out concurrently; the promotion only ever moves forward.
	for p := ro.promoted.Load(); int64(reply.PromotedThrough) > p; p = ro.promoted.Load() {
		if ro.promoted.CompareAndSwap(p, int64(reply.PromotedThrough)) {
			select {
			case ro.promotedCh <- struct{}{}:
			default:
			}
			break
		}
	}
	return nil
}

// sendNow reports the status once, briefly: the router has already
// changed, and an unreachable server must not hold up the rollout.
func (ro *rolloutRun) sendNow(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	ro.send(ctx)
}

// flush delivers the current status before the outcome, trying a few
// times: the server should know the final phase (and an abort's evidence)
// before the job's result.
func (ro *rolloutRun) flush() {
	for i := 0; i < 3; i++ {
		if ro.send(context.Background()) == nil {
			return
		}
		time.Sleep(time.Duration(i+1) * 200 * time.Millisecond) // a retry pause, not a wait for a condition
	}
}

// progressKey names a running analysis part in rolloutRun.progress.
func progressKey(judge string, step int, metric string) string {
	return fmt.Sprintf("%03d/%s/%s", step, judge, metric)
}

// setProgress records where an analysis part stands (nil: it ended). It
// does not ask for a report: the next second's carries it.
func (ro *rolloutRun) setProgress(key string, p *shipgate.AnalysisProgress) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if p == nil {
		delete(ro.progress, key)
		return
	}
	if ro.progress == nil {
		ro.progress = map[string]shipgate.AnalysisProgress{}
	}
	ro.progress[key] = *p
}

// finite drops the values JSON cannot carry (NaN, ±Inf).
func finite(vs []float64) []float64 {
	var out []float64
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

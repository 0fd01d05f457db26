package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/router"
)

// trafficHistory is how many one-second samples of a rollout's counters
// are kept at least (up to twice as many between trims): builtin metrics
// and stable's latency profile look back at most this far.
const trafficHistory = 15 * 60

// stableP90Window is how far back stable's p90 latency is taken from when
// the sequential judge counts slow requests.
const stableP90Window = 60

// sample is the router's cumulative counters of the two versions of a
// rollout at one moment.
type sample struct {
	At             time.Time
	Stable, Canary router.Counters
}

// traffic samples a rollout's counters once a second. It serves the
// builtin metrics (analysis.TrafficSource) and feeds the sequential judges,
// each of which sees every second as a tick.
type traffic struct {
	rt                 *router.Router
	stableID, canaryID string
	every              time.Duration

	mu      sync.Mutex
	samples []sample // oldest first
	subs    map[chan sample]struct{}
}

func newTraffic(rt *router.Router, stableID, canaryID string) *traffic {
	return &traffic{rt: rt, stableID: stableID, canaryID: canaryID, every: time.Second, subs: map[chan sample]struct{}{}}
}

// run samples until ctx ends.
func (t *traffic) run(ctx context.Context) {
	t.take()
	tk := time.NewTicker(t.every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			t.take()
		}
	}
}

func (t *traffic) take() {
	s := sample{At: time.Now(), Stable: t.rt.Counters(t.stableID), Canary: t.rt.Counters(t.canaryID)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples = append(t.samples, s)
	if len(t.samples) > 2*trafficHistory {
		// Trim in one go every trafficHistory seconds, not a copy of the
		// whole history (~1.7 KB a sample) every second.
		t.samples = append(t.samples[:0], t.samples[len(t.samples)-trafficHistory:]...)
	}
	for ch := range t.subs {
		select {
		case ch <- s:
		default: // a judge that falls behind skips a second rather than stall the sampler
		}
	}
}

// subscribe returns a channel receiving every new sample.
func (t *traffic) subscribe() (<-chan sample, func()) {
	ch := make(chan sample, 16)
	t.mu.Lock()
	t.subs[ch] = struct{}{}
	t.mu.Unlock()
	return ch, func() {
		t.mu.Lock()
		delete(t.subs, ch)
		t.mu.Unlock()
	}
}

// first returns the oldest sample, the rollout's starting point.
func (t *traffic) first() (sample, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.samples) == 0 {
		return sample{}, false
	}
	return t.samples[0], true
}

// window returns the counters of each version over the last d.
func (t *traffic) window(d time.Duration) (stable, canary router.Counters, span time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.samples)
	if n < 2 {
		return
	}
	last := t.samples[n-1]
	i := n - 2
	for i > 0 && last.At.Sub(t.samples[i].At) < d {
		i--
	}
	from := t.samples[i]
	return last.Stable.Sub(from.Stable), last.Canary.Sub(from.Canary), last.At.Sub(from.At)
}

// stableP90 is stable's p90 latency over the window before s, or 0 when
// stable served too few requests to say.
func (t *traffic) stableP90(before time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	end := -1
	for i := len(t.samples) - 1; i >= 0; i-- {
		if !t.samples[i].At.After(before) {
			end = i
			break
		}
	}
	if end < 1 {
		return 0
	}
	start := max(end-stableP90Window, 0)
	c := t.samples[end].Stable.Sub(t.samples[start].Stable)
	if c.Requests < 50 {
		return 0
	}
	return c.Quantile(0.9)
}

// Traffic implements analysis.TrafficSource for the builtin metrics.
func (t *traffic) Traffic(version string, window time.Duration) analysis.TrafficStats {
	stable, canary, span := t.window(window)
	c := canary
	if version == "stable" {
		c = stable
	}
	return analysis.TrafficStats{Requests: int64(c.Requests), Errors: int64(c.Errors), Window: span,
		Mean: c.Mean(), P50: c.Quantile(0.5), P90: c.Quantile(0.9), P99: c.Quantile(0.99)}
}

// tick turns two consecutive samples into one second for a judge: each
// version's requests, errors, and requests slower than stable's recent
// p90.
func (t *traffic) tick(prev, cur sample, sec int) analysis.Tick {
	st, ca := cur.Stable.Sub(prev.Stable), cur.Canary.Sub(prev.Canary)
	tk := analysis.Tick{Second: sec}
	tk.Arms[analysis.Stable] = analysis.ArmTick{Requests: int(st.Requests), Errors: int(st.Errors), LatencySum: float64(st.LatencySum.Milliseconds())}
	tk.Arms[analysis.Canary] = analysis.ArmTick{Requests: int(ca.Requests), Errors: int(ca.Errors), LatencySum: float64(ca.LatencySum.Milliseconds())}
	if p90 := t.stableP90(prev.At); p90 > 0 {
		tk.Arms[analysis.Stable].Slow = int(st.SlowerThan(p90))
		tk.Arms[analysis.Canary].Slow = int(ca.SlowerThan(p90))
	}
	return tk
}

// sequential runs the sequential judge on every second of the rollout
// until it finds the canary worse than stable (failed), a blocking
// analysis has watched for its duration (successful), or ctx ends
// (successful: no evidence against the canary).
func (t *traffic) sequential(ctx context.Context, cfg *shipgate.SequentialAnalysis, step int, blocking bool) shipgate.AnalysisDecision {
	alpha := cfg.Alpha
	if alpha <= 0 {
		alpha = shipgate.DefaultAlpha
	}
	d := cfg.Duration.Std()
	if d <= 0 {
		d = shipgate.DefaultSequentialDuration.Std()
	}
	judge := analysis.NewSequential(alpha)
	ch, stop := t.subscribe()
	defer stop()
	start := time.Now()
	var prev sample
	have := false
	var canaryReq, stableReq int
	decide := func(phase, summary string) shipgate.AnalysisDecision {
		ev := judge.Evidence()
		ev["canary_requests"], ev["stable_requests"] = canaryReq, stableReq
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
		eErr, eSlow := judge.EValues()
		return decide(shipgate.AnalysisSuccessful, fmt.Sprintf("no evidence the canary is worse than stable after %s: e-values %.2g (errors) and %.2g (latency) stayed below %.0f over %d canary and %d stable requests",
			time.Since(start).Round(time.Second), eErr, eSlow, 2/alpha, canaryReq, stableReq))
	}
	for sec := 0; ; {
		select {
		case <-ctx.Done():
			return pass()
		case <-deadline:
			return pass()
		case s := <-ch:
			if !have {
				prev, have = s, true
				continue
			}
			tk := t.tick(prev, s, sec)
			prev = s
			sec++
			canaryReq += tk.Arms[analysis.Canary].Requests
			stableReq += tk.Arms[analysis.Stable].Requests
			if v := judge.Observe(&tk); v.Rollback {
				return decide(shipgate.AnalysisFailed, fmt.Sprintf("%s, after %s", v.Reason, time.Since(start).Round(time.Second)))
			}
		}
	}
}

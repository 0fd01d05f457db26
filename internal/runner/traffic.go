package runner

import (
	"context"
	"sync"
	"time"

	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/router"
)

// trafficHistory is how many one-second samples of a rollout's counters
// are kept at least (up to twice as many between trims): builtin metrics
// and stable's latency profile look back at most this far.
const trafficHistory = 15 * 60

// stableProfileWindow is how far back (in samples, about seconds) stable's
// p90 and p99 latencies are taken from when the sequential judge counts
// slow and tail requests.
const stableProfileWindow = 60

// Stable must have served this many requests in the window for its p90
// (slow requests) and its p99 (tail requests) to be used: a p99 of fewer
// than 200 requests is set by its two slowest.
const (
	minSlowRequests = 50
	minTailRequests = 200
)

// sample is the router's cumulative counters of the two versions of a
// rollout at one moment.
type sample struct {
	At             time.Time
	Stable, Canary router.Counters
	// Seq numbers the rollout's samples from 1: the judges' second.
	Seq int
	// Weight is the canary's share of traffic in the router's table when
	// the sample was taken, and ChangedAt the Seq of the first sample that
	// saw it (the first sample of all, before any change): a judge's
	// warm-up starts there.
	Weight, ChangedAt int
}

// traffic samples a rollout's counters once a second. It serves the
// builtin metrics (analysis.TrafficSource) and feeds the sequential judges,
// each of which sees every second as a tick.
type traffic struct {
	rt                          *router.Router
	service, stableID, canaryID string
	every                       time.Duration

	mu      sync.Mutex
	samples []sample // oldest first
	last    sample   // the newest sample, kept across trims
	// slow counts each version's slow requests since the first sample,
	// second by second, as the sequential judge counts them (tick).
	slowStable, slowCanary int64
	subs                   map[chan sample]struct{}
}

func newTraffic(rt *router.Router, service, stableID, canaryID string) *traffic {
	return &traffic{rt: rt, service: service, stableID: stableID, canaryID: canaryID, every: time.Second, subs: map[chan sample]struct{}{}}
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
	if tb := t.rt.Get(t.service); tb.Canary != nil && tb.Canary.ID == t.canaryID {
		s.Weight = tb.Weight
	}
	t.record(s)
}

// record adds s and counts its second's slow requests per version.
func (t *traffic) record(s sample) {
	t.mu.Lock()
	prev := t.last
	t.mu.Unlock()
	t.add(s)
	if prev.Seq > 0 {
		tk := t.tick(prev, s)
		t.mu.Lock()
		t.slowStable += int64(tk.Arms[analysis.Stable].Slow)
		t.slowCanary += int64(tk.Arms[analysis.Canary].Slow)
		t.mu.Unlock()
	}
}

// slowCounts returns each version's slow requests since the rollout
// started: requests slower than stable's p90 over the minute before each
// second, the sequential judge's "slow".
func (t *traffic) slowCounts() (stable, canary int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.slowStable, t.slowCanary
}

// add numbers s, notes a weight change, keeps it and hands it to the
// judges.
func (t *traffic) add(s sample) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.Seq, s.ChangedAt = t.last.Seq+1, t.last.ChangedAt
	if s.Seq == 1 || s.Weight != t.last.Weight {
		s.ChangedAt = s.Seq
	}
	t.last = s
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

// stableProfile is stable's p90 and p99 latency over the window before
// before; each is 0 when stable served too few requests to say.
func (t *traffic) stableProfile(before time.Time) (p90, p99 time.Duration) {
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
		return 0, 0
	}
	start := max(end-stableProfileWindow, 0)
	c := t.samples[end].Stable.Sub(t.samples[start].Stable)
	if c.Requests >= minSlowRequests {
		p90 = c.Quantile(0.9)
	}
	if c.Requests >= minTailRequests {
		p99 = c.Quantile(0.99)
	}
	return p90, p99
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
// version's requests, errors, requests slower than stable's recent p90
// (Slow) and slower than its recent p99 (Tail). The tick's Second is the
// later sample's Seq, the rollout's second.
func (t *traffic) tick(prev, cur sample) analysis.Tick {
	st, ca := cur.Stable.Sub(prev.Stable), cur.Canary.Sub(prev.Canary)
	tk := analysis.Tick{Second: cur.Seq}
	tk.Arms[analysis.Stable] = analysis.ArmTick{Requests: int(st.Requests), Errors: int(st.Errors), LatencySum: float64(st.LatencySum.Milliseconds())}
	tk.Arms[analysis.Canary] = analysis.ArmTick{Requests: int(ca.Requests), Errors: int(ca.Errors), LatencySum: float64(ca.LatencySum.Milliseconds())}
	p90, p99 := t.stableProfile(prev.At)
	if p90 > 0 {
		tk.Arms[analysis.Stable].Slow = int(st.SlowerThan(p90))
		tk.Arms[analysis.Canary].Slow = int(ca.SlowerThan(p90))
	}
	if p99 > 0 {
		tk.Arms[analysis.Stable].Tail = int(st.SlowerThan(p99))
		tk.Arms[analysis.Canary].Tail = int(ca.SlowerThan(p99))
	}
	return tk
}

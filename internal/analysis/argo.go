package analysis

import "fmt"

// Argo re-implements an Argo Rollouts analysis as the judge benchmark
// specifies: every Interval seconds, a measurement fails when the canary's
// error rate over the last interval is above 1% or its mean latency is above
// 1.10 × the baseline mean; the canary is rolled back when failed
// measurements exceed FailureLimit (2). Intervals without canary requests
// are skipped. With an InitialDelay (Argo's initialDelay, from
// JudgeEnv.Warmup) the seconds before it are ignored and the first
// interval starts there; Argo delays the start of an analysis run only,
// not after weight changes, and so does this judge.
type Argo struct {
	Interval     int
	InitialDelay int // seconds
	FailureLimit int
	MaxErrorRate float64
	MaxLatency   float64 // ms

	reqs, errs int
	latSum     float64
	failed     int
	name       string
}

// NewArgo returns an Argo-style judge measuring every interval seconds.
func NewArgo(interval int, env JudgeEnv) *Argo {
	return &Argo{Interval: interval, InitialDelay: max(env.Warmup, 0), FailureLimit: 2, MaxErrorRate: 0.01, MaxLatency: 1.10 * env.BaselineMeanLatency,
		name: fmt.Sprintf("argo-%ds", interval)}
}

// Name implements Judge.
func (a *Argo) Name() string { return a.name }

// Observe implements Judge.
func (a *Argo) Observe(t *Tick) Verdict {
	if t.Second < a.InitialDelay {
		return Verdict{}
	}
	c := t.Arms[Canary]
	a.reqs += c.Requests
	a.errs += c.Errors
	a.latSum += c.LatencySum
	if (t.Second+1-a.InitialDelay)%a.Interval != 0 {
		return Verdict{}
	}
	reqs, errs, lat := a.reqs, a.errs, a.latSum
	a.reqs, a.errs, a.latSum = 0, 0, 0
	if reqs == 0 {
		return Verdict{}
	}
	rate, mean := float64(errs)/float64(reqs), lat/float64(reqs)
	if rate > a.MaxErrorRate || mean > a.MaxLatency {
		a.failed++
	}
	if a.failed > a.FailureLimit {
		return Verdict{Rollback: true, Reason: fmt.Sprintf("%d measurements failed (limit %d)", a.failed, a.FailureLimit)}
	}
	return Verdict{}
}

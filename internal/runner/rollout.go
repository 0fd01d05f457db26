package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/router"
	"github.com/shipgate/shipgate/internal/supervisor"
)

// serviceKey names a supervised service on an agent: one per service,
// environment and job.
func serviceKey(a *shipgate.Assignment) string {
	return a.Service + "/" + a.Env + "/" + a.Job.Name
}

// rolloutRun is one rollout attempt in progress: the instances, the
// traffic samples, and the status reported to the server.
type rolloutRun struct {
	r      *Runner
	a      *shipgate.Assignment
	svc    *Services
	key    string
	logs   *shipper
	stable *router.Backend
	canary *router.Backend
	tr     *traffic
	http   *http.Client

	mu     sync.Mutex
	status shipgate.RolloutStatus
	// final is the traffic once the phase is final: stopping an instance
	// forgets its counters, and later reports must still tell what it served.
	final []shipgate.VersionTraffic
	kick  chan struct{} // report now

	promoted   atomic.Int64  // PromotedThrough from the server: a pause number
	promotedCh chan struct{} // a promotion arrived
	pauses     int           // pauses so far; the current one's number
	bg         chan bgResult // what the background analysis decided against the canary
	// budget shares the rollout's alpha among its sequential judges, made
	// on first use (judgeFor) and kept for the whole rollout.
	budget shipgate.ErrorBudget
	judges map[string]*liveJudge
	// progress is where each running analysis part stands, by
	// progressKey, reported with every status (under mu).
	progress map[string]shipgate.AnalysisProgress
}

// rollout runs a job that declares a service: start the new version
// beside the stable one, move traffic by the strategy, and either make it
// stable (promote) or put all traffic back on stable and stop it (abort).
func (r *Runner) rollout(ctx context.Context, a *shipgate.Assignment, artifact, dir string, env []string, logs *shipper) shipgate.JobOutcome {
	svc := r.Services
	if svc == nil {
		return fail("this runner does not run services (the job declares service:); run it on a shipgate agent")
	}
	key := serviceKey(a)
	sp := a.Job.Service
	ro := &rolloutRun{r: r, a: a, svc: svc, key: key, logs: logs, kick: make(chan struct{}, 1), promotedCh: make(chan struct{}, 1),
		bg: make(chan bgResult, 4), http: r.httpClient()}
	ro.promoted.Store(-1)
	ro.budget = a.Job.Strategy.ErrorBudget()
	ro.status = shipgate.RolloutStatus{Strategy: strategyName(a.Job.Strategy), Phase: shipgate.RolloutStarting, CanaryVersion: a.Version}
	if s := a.Job.Strategy; s != nil && s.Canary != nil {
		ro.status.Steps = len(s.Canary.Steps)
	}
	repCtx, stopReports := context.WithCancel(context.WithoutCancel(ctx))
	repDone := make(chan struct{})
	go ro.reportLoop(repCtx, repDone)
	defer func() { stopReports(); <-repDone }()

	// One rollout per service at a time; another attempt waits here, and
	// says so, until that one ends — or until it is itself cancelled.
	unlock, err := svc.lock(ctx, key, func() {
		ro.set(func(s *shipgate.RolloutStatus) {
			s.Message = "waiting for another rollout of " + key + " on this agent to end"
		})
		logs.flushLine("system", "waiting for another rollout of "+key+" on this agent to end")
	})
	if err != nil {
		out := ro.fail("stopped while waiting for another rollout of %s: %v", key, stopReason(ctx))
		out.Cancelled = isStop(ctx)
		return out
	}
	defer unlock()
	ro.set(func(s *shipgate.RolloutStatus) { s.Message = "" })
	st := svc.get(key)

	moved := st.Listen != "" && st.Listen != sp.Listen
	if moved {
		logs.flushLine("system", fmt.Sprintf("the service moves from %s to %s", st.Listen, sp.Listen))
		svc.Router.Remove(key)
	}
	if err := svc.Router.Serve(key, sp.Listen); err != nil {
		if moved && svc.Router.Serve(key, st.Listen) == nil {
			svc.Router.Set(key, router.Table{Stable: svc.backend(st.Stable)}) // back where it was
		}
		return ro.fail("cannot serve %s: %v", sp.Listen, err)
	}
	if moved {
		// The new front serves the stable version from the first request.
		svc.Router.Set(key, router.Table{Stable: svc.backend(st.Stable)})
	}
	if st.Listen != sp.Listen {
		// Saved now: promote and the next agent start read the stored state.
		st.Listen = sp.Listen
		if err := svc.put(st); err != nil {
			return ro.fail("saving service state: %v", err)
		}
	}
	// The report loop reads the backends (and the status) under ro.mu.
	ro.mu.Lock()
	ro.stable = svc.backend(st.Stable)
	if ro.stable != nil {
		ro.status.StableVersion = ro.stable.Version
	}
	ro.mu.Unlock()
	if ro.stable != nil {
		if in, _ := svc.Sup.Get(st.Stable); in.Spec.Digest == a.Artifact.SHA256 && in.Spec.Version == a.Version {
			svc.Router.Set(key, router.Table{Stable: ro.stable})
			logs.flushLine("system", fmt.Sprintf("%s is already the stable version on %s; it takes all traffic", a.Version, svc.Router.Addr(key)))
			ro.set(func(s *shipgate.RolloutStatus) {
				s.Phase, s.Weight, s.Message = shipgate.RolloutPromoted, 100, "already the stable version"
			})
			return ro.succeed()
		}
	}

	// The new version: the standby instance of this very artifact if the
	// previous rollout kept one (switching back is then instant), else a
	// new process.
	var canary supervisor.Instance
	if in, ok := svc.Sup.Get(st.Standby); ok && in.Spec.Digest == a.Artifact.SHA256 && in.Spec.Version == a.Version {
		canary = in
		st.Standby, st.RetireAt = "", time.Time{}
		logs.flushLine("system", fmt.Sprintf("%s is still running on standby (pid %d); using it", a.Version, in.PID))
	} else {
		var err error
		if canary, err = ro.start(ctx, artifact, env); err != nil {
			if ro.stable == nil {
				svc.Router.Remove(key) // nothing was ever served here: free the address
			}
			out := ro.fail("%v", err)
			out.Cancelled = isStop(ctx) // the server stopped it: a cancel, not a failure
			return out
		}
	}
	ro.mu.Lock()
	ro.canary = svc.backend(canary.ID)
	ro.mu.Unlock()
	if ro.canary == nil {
		return ro.fail("the new instance of %s disappeared before taking traffic", a.Version)
	}

	if ro.stable == nil {
		svc.Router.Set(key, router.Table{Stable: ro.canary})
		st.Stable = canary.ID
		if err := svc.put(st); err != nil {
			return ro.fail("saving service state: %v", err)
		}
		logs.flushLine("system", fmt.Sprintf("first version of the service: %s takes all traffic on %s", a.Version, svc.Router.Addr(key)))
		ro.set(func(s *shipgate.RolloutStatus) {
			s.Phase, s.Weight, s.StableVersion, s.Message = shipgate.RolloutPromoted, 100, "", "first version: nothing to compare against"
		})
		return ro.succeed()
	}

	tr := newTraffic(svc.Router, key, ro.stable.ID, ro.canary.ID)
	ro.mu.Lock()
	ro.tr = tr
	ro.mu.Unlock()
	trCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	go tr.run(trCtx)

	var out shipgate.JobOutcome
	switch s := a.Job.Strategy; {
	case s != nil && s.Canary != nil:
		out = ro.runCanary(ctx, s.Canary)
	case s != nil && s.BlueGreen != nil:
		out = ro.runBlueGreen(ctx, s.BlueGreen)
	default:
		out = ro.promote(0)
	}
	return out
}

func strategyName(s *shipgate.Strategy) string {
	switch {
	case s != nil && s.Canary != nil:
		return "canary"
	case s != nil && s.BlueGreen != nil:
		return "blue_green"
	}
	return "replace"
}

// start unpacks the artifact and starts a new instance, waiting until it
// is healthy.
func (ro *rolloutRun) start(ctx context.Context, artifact string, env []string) (supervisor.Instance, error) {
	a, sp := ro.a, ro.a.Job.Service
	instDir := filepath.Join(ro.svc.dir, "releases", safeName(ro.key), fmt.Sprintf("r%d-%s-%.12s", a.Key.ReleaseID, safeName(a.Version), a.Artifact.SHA256))
	path, err := unpackArtifact(artifact, a.Artifact.Location, instDir)
	if err != nil {
		return supervisor.Instance{}, fmt.Errorf("unpacking the artifact: %w", err)
	}
	// One pass, so a substituted value is never itself expanded; the
	// version is a validated one (see execute), so ${VERSION} alone is one
	// argument that cannot start with '-'.
	vars := strings.NewReplacer("${VERSION}", a.Version, "${ARTIFACT_PATH}", path)
	argv := make([]string, len(sp.Exec))
	for i, arg := range sp.Exec {
		argv[i] = vars.Replace(arg)
	}
	penv := append([]string(nil), env...)
	if ro.r.ServiceEnv != nil {
		penv = append(penv, ro.r.ServiceEnv(ctx, a.Service, a.Env)...)
	}
	for k, v := range sp.Env {
		penv = append(penv, k+"="+v)
	}
	penv = append(penv, "SHIPGATE_ARTIFACT_PATH="+path)
	spec := supervisor.Spec{Service: ro.key, Version: a.Version, Digest: a.Artifact.SHA256, Dir: instDir, Exec: argv, Env: penv,
		StopGrace: sp.StopGrace.Std()} // 0: the supervisor's default, shipgate.DefaultStopGrace
	if h := sp.Health; h != nil {
		spec.HealthPath, spec.HealthInterval, spec.HealthTimeout = h.Path, h.Interval.Std(), h.Timeout.Std()
	}
	in, err := ro.svc.Sup.Start(spec)
	if err != nil {
		return in, fmt.Errorf("starting %s: %w", a.Version, err)
	}
	ro.logs.flushLine("system", fmt.Sprintf("▶ started %s (pid %d, port %d); waiting until it is healthy", a.Version, in.PID, in.Port))
	timeout := sp.StartTimeout.Std()
	if timeout <= 0 {
		timeout = shipgate.DefaultStartTimeout.Std()
	}
	wctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("not healthy within %s", timeout))
	defer cancel()
	if err := ro.svc.Sup.WaitHealthy(wctx, in.ID); err != nil {
		if c := context.Cause(wctx); wctx.Err() != nil {
			err = c // not healthy in time, cancelled, or the job timed out
		}
		ro.svc.stop(in.ID)
		return in, fmt.Errorf("%s did not become healthy: %w", a.Version, err)
	}
	ro.logs.flushLine("system", fmt.Sprintf("%s is healthy", a.Version))
	return in, nil
}

// safeName makes s usable as one path element.
func safeName(s string) string {
	s = strings.NewReplacer("/", "_", "\\", "_", "\x00", "_").Replace(s)
	return strings.ReplaceAll(s, "..", "__")
}

// isStop reports whether ctx ended because the server stopped the attempt.
func isStop(ctx context.Context) bool {
	var se *stopError
	return ctx.Err() != nil && errors.As(context.Cause(ctx), &se)
}

func stopReason(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil {
		return c.Error()
	}
	return "stopped"
}

// abort restores traffic first — all of it on stable — then stops the
// canary and fails the job, which hands over to the rollback policy. step
// is numbered from 1; the status, the decision and the job's reason all
// name it as it is.
func (ro *rolloutRun) abort(ctx context.Context, step int, reason string, d *shipgate.AnalysisDecision) shipgate.JobOutcome {
	ro.svc.Router.Set(ro.key, router.Table{Stable: ro.stable})
	ro.set(func(s *shipgate.RolloutStatus) {
		s.Phase, s.Step, s.Weight, s.Paused, s.PauseUntil, s.Message = shipgate.RolloutAborted, step, 0, "", nil, reason
	})
	ro.flush()
	ro.logs.flushLine("system", fmt.Sprintf("aborted: %s — all traffic is back on stable %s; stopping %s", reason, ro.stable.Version, ro.canary.Version))
	ro.svc.stop(ro.canary.ID)
	return shipgate.JobOutcome{Reason: fmt.Sprintf("rollout of %s aborted at step %d: %s", ro.canary.Version, step, reason), Cancelled: isStop(ctx)}
}

// promote makes the new version stable with all traffic; the old one is
// stopped at once, or kept on standby for scaleDown.
func (ro *rolloutRun) promote(scaleDown time.Duration) shipgate.JobOutcome {
	ro.svc.Router.Set(ro.key, router.Table{Stable: ro.canary})
	st := ro.svc.get(ro.key)
	old := st.Stable
	st.Stable = ro.canary.ID
	if st.Standby == ro.canary.ID {
		st.Standby, st.RetireAt = "", time.Time{} // the standby is back in service
	}
	var retire string // a previous standby this promotion replaces
	if scaleDown > 0 && old != "" {
		if st.Standby != "" && st.Standby != old {
			retire = st.Standby
		}
		st.Standby, st.RetireAt = old, time.Now().Add(scaleDown)
	}
	if err := ro.svc.put(st); err != nil {
		ro.logs.flushLine("system", "saving service state: "+err.Error())
	}
	ro.set(func(s *shipgate.RolloutStatus) {
		s.Phase, s.Weight, s.Paused, s.PauseUntil, s.Message = shipgate.RolloutPromoted, 100, "", nil, ""
	})
	ro.flush()
	ro.logs.flushLine("system", fmt.Sprintf("promoted: %s takes all traffic on %s", ro.canary.Version, ro.svc.Router.Addr(ro.key)))
	if retire != "" {
		ro.svc.stop(retire)
	}
	if old != "" && old != ro.canary.ID {
		if scaleDown > 0 {
			ro.logs.flushLine("system", fmt.Sprintf("%s stays on standby for %s", ro.stable.Version, scaleDown))
			ro.svc.retireLater(ro.key, old, scaleDown)
		} else {
			ro.svc.stop(old)
		}
	}
	return ro.succeed()
}

func (ro *rolloutRun) succeed() shipgate.JobOutcome {
	ro.flush()
	zero := 0
	return shipgate.JobOutcome{Succeeded: true, ExitCode: &zero}
}

// fail ends a rollout that never moved traffic.
func (ro *rolloutRun) fail(format string, args ...any) shipgate.JobOutcome {
	msg := fmt.Sprintf(format, args...)
	ro.set(func(s *shipgate.RolloutStatus) { s.Phase, s.Weight, s.Message = shipgate.RolloutAborted, 0, msg })
	ro.flush()
	ro.logs.flushLine("system", msg)
	return shipgate.JobOutcome{Reason: msg}
}

// analyse runs every part of an analysis side by side: the sequential
// judge and each threshold metric. The first failure ends the others;
// otherwise any inconclusive part makes the analysis inconclusive.
func (ro *rolloutRun) analyse(ctx context.Context, an *shipgate.Analysis, step int, blocking bool) shipgate.AnalysisDecision {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make(chan shipgate.AnalysisDecision, 1+len(an.Metrics))
	parts := 0
	if an.Sequential != nil {
		parts++
		j := ro.judgeFor(step, an.Sequential)
		go func() { res <- ro.tr.sequential(ctx, j, an.Sequential, step, blocking) }()
	}
	for _, m := range an.Metrics {
		parts++
		go func() { res <- ro.runMetric(ctx, m, step) }()
	}
	var inconclusive *shipgate.AnalysisDecision
	var last shipgate.AnalysisDecision
	for range parts {
		d := <-res
		if ctx.Err() != nil && d.Phase == shipgate.AnalysisSuccessful {
			continue // cut short by the rollout's end, not a verdict
		}
		ro.record(d)
		ro.logs.flushLine("system", fmt.Sprintf("%s %s: %s", d.Judge, d.Phase, d.Summary))
		switch d.Phase {
		case shipgate.AnalysisFailed, shipgate.AnalysisError:
			return d
		case shipgate.AnalysisInconclusive:
			inconclusive = &d
		}
		last = d
	}
	if inconclusive != nil {
		return *inconclusive
	}
	if last.Phase == "" {
		last = shipgate.AnalysisDecision{At: time.Now().UTC(), Step: step, Phase: shipgate.AnalysisSuccessful, Summary: "the analysis ended with the rollout"}
	}
	return last
}

// runMetric measures one threshold metric until it has a verdict or ctx
// ends, logging every measurement.
func (ro *rolloutRun) runMetric(ctx context.Context, m shipgate.AnalysisMetric, step int) shipgate.AnalysisDecision {
	p, err := analysis.NewMetricProvider(m, ro.tr, ro.http)
	if err != nil {
		return shipgate.AnalysisDecision{At: time.Now().UTC(), Step: step, Judge: "threshold", Metric: m.Name, Phase: shipgate.AnalysisError, Summary: fmt.Sprintf("metric %q cannot be measured: %v", m.Name, err)}
	}
	key := progressKey("threshold", step, m.Name)
	defer ro.setProgress(key, nil)
	return analysis.RunMetric(ctx, m, p, step, func(me analysis.Measurement) {
		ro.setProgress(key, &shipgate.AnalysisProgress{Step: step, Background: step == 0, Judge: "threshold", Metric: m.Name, Values: finite(me.Values), Result: me.Phase})
		line := fmt.Sprintf("metric %s: %v → %s", m.Name, me.Values, me.Phase)
		if me.Message != "" {
			line += ": " + me.Message
		}
		ro.logs.flushLine("system", line)
	})
}

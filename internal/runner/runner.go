package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
)

// Coordinator is the server side of the job hand-off, as the runner needs it.
type Coordinator interface {
	Claim(ctx context.Context, runner shipgate.RunnerInfo, wait time.Duration) (*shipgate.Assignment, bool, error)
	Heartbeat(ctx context.Context, runner string, key shipgate.AttemptKey) (shipgate.HeartbeatReply, error)
	AppendLogs(ctx context.Context, runner string, key shipgate.AttemptKey, chunks []shipgate.LogChunk) error
	Finish(ctx context.Context, runner string, key shipgate.AttemptKey, out shipgate.JobOutcome) error
}

// Runner claims and executes jobs.
type Runner struct {
	Coord   Coordinator
	Info    shipgate.RunnerInfo
	WorkDir string
	// Slots is how many jobs run at once.
	Slots int
	// HeartbeatInterval is how often a running attempt's lease is extended
	// and the server is asked whether to stop.
	HeartbeatInterval time.Duration
	// KillGrace is how long a step gets between SIGTERM and SIGKILL when it
	// is stopped.
	KillGrace time.Duration
	Logger    *slog.Logger
}

// Run claims jobs until ctx ends, then waits for the jobs it is running.
// Jobs stop early only when hard is cancelled.
func (r *Runner) Run(ctx, hard context.Context) error {
	if r.Slots <= 0 {
		r.Slots = 1
	}
	if r.HeartbeatInterval <= 0 {
		r.HeartbeatInterval = 2 * time.Second
	}
	if r.KillGrace <= 0 {
		r.KillGrace = 5 * time.Second
	}
	if err := os.MkdirAll(r.WorkDir, 0o700); err != nil {
		return fmt.Errorf("runner work dir: %w", err)
	}
	var wg sync.WaitGroup
	for i := 0; i < r.Slots; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.slot(ctx, hard)
		}()
	}
	wg.Wait()
	return nil
}

func (r *Runner) slot(ctx, hard context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		a, ok, err := r.Coord.Claim(ctx, r.Info, 30*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.Logger.Warn("claim failed", "runner", r.Info.Name, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if ok {
			r.Execute(hard, a)
		}
	}
}

// Execute runs one attempt to its end and reports the outcome.
func (r *Runner) Execute(ctx context.Context, a *shipgate.Assignment) shipgate.JobOutcome {
	log := r.Logger.With("release", a.Key.ReleaseID, "run", a.Key.Run, "job", a.Key.Job, "attempt", a.Key.Attempt)
	secrets := make([]string, 0, len(a.Secrets))
	for _, v := range a.Secrets {
		secrets = append(secrets, v)
	}
	logs := newShipper(r.Coord, r.Info.Name, a.Key, secrets, log)
	go logs.run()

	// The job context ends on timeout, on a cancel from the server, or when
	// the runner is stopped hard.
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timeout := a.Job.EffectiveTimeout()
	jobCtx, cancelTimeout := context.WithTimeoutCause(jobCtx, timeout, fmt.Errorf("timed out after %s", timeout))
	defer cancelTimeout()
	hbDone := make(chan struct{})
	go r.heartbeat(jobCtx, a.Key, cancel, hbDone, log)

	out := r.execute(jobCtx, a, logs)
	cancel(nil)
	<-hbDone
	if out.Succeeded {
		logs.flushLine("system", "job succeeded")
	} else {
		logs.flushLine("system", "job failed: "+out.Reason)
	}
	logs.close()
	if err := logs.wait(context.WithoutCancel(ctx)); err != nil {
		log.Warn("could not ship every log chunk", "err", err)
	}
	if ctx.Err() != nil {
		// The runner itself is being stopped hard (server shutdown). That
		// says nothing about the job: report nothing, let the lease run
		// out, and let the server retry or fail the attempt as for a lost
		// runner.
		log.Warn("attempt interrupted by runner shutdown; leaving it to lease expiry")
		return out
	}
	r.report(ctx, a.Key, out, log)
	return out
}

func (r *Runner) heartbeat(ctx context.Context, key shipgate.AttemptKey, cancel context.CancelCauseFunc, done chan<- struct{}, log *slog.Logger) {
	defer close(done)
	t := time.NewTicker(r.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		reply, err := r.Coord.Heartbeat(ctx, r.Info.Name, key)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("heartbeat failed", "err", err)
			}
			continue
		}
		if reply.Cancel {
			cancel(&stopError{reason: reply.Reason})
			return
		}
	}
}

// stopError is the cause of a job context ended by the server.
type stopError struct{ reason string }

func (e *stopError) Error() string { return "stopped by the server: " + e.reason }

// report delivers the outcome, retrying while the server is unreachable.
func (r *Runner) report(ctx context.Context, key shipgate.AttemptKey, out shipgate.JobOutcome, log *slog.Logger) {
	ctx = context.WithoutCancel(ctx)
	backoff := 200 * time.Millisecond
	for i := 0; i < 10; i++ {
		err := r.Coord.Finish(ctx, r.Info.Name, key, out)
		if err == nil {
			return
		}
		code := shipgate.ErrorCode(err)
		if code == shipgate.ECONFLICT || code == shipgate.ENOTFOUND {
			log.Warn("outcome not accepted", "err", err)
			return
		}
		log.Warn("reporting outcome failed; retrying", "err", err)
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
	log.Error("gave up reporting outcome; the lease will expire and the server decides", "outcome", out)
}

func (r *Runner) execute(ctx context.Context, a *shipgate.Assignment, logs *shipper) shipgate.JobOutcome {
	dir := filepath.Join(r.WorkDir, "jobs", fmt.Sprintf("r%d-run%d-%s-a%d", a.Key.ReleaseID, a.Key.Run, a.Key.Job, a.Key.Attempt))
	if err := os.RemoveAll(dir); err != nil {
		return fail("prepare workspace: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("prepare workspace: %v", err)
	}
	logs.flushLine("system", fmt.Sprintf("attempt %d of %d on runner %s", a.Key.Attempt, a.Job.MaxAttempts(), r.Info.Name))
	artifact, err := fetchArtifact(ctx, filepath.Join(r.WorkDir, "artifacts"), a.Artifact)
	if err != nil {
		logs.flushLine("system", err.Error())
		return fail("%v", err)
	}
	env := r.environment(a, artifact, dir)
	if a.Job.Check != nil {
		return r.runCheck(ctx, a.Job.Check, dir, env, logs)
	}
	for i, step := range a.Job.Steps {
		label := step.Label(i)
		logs.flushLine("system", "▶ "+label)
		code, err := r.runStep(ctx, step, dir, env, logs)
		if cause := context.Cause(ctx); ctx.Err() != nil {
			return stopped(cause, label, code)
		}
		if err != nil {
			return fail("%s could not start: %v", label, err)
		}
		if code != 0 {
			c := code
			return shipgate.JobOutcome{ExitCode: &c, Reason: fmt.Sprintf("%s exited with status %d", label, code)}
		}
	}
	zero := 0
	return shipgate.JobOutcome{Succeeded: true, ExitCode: &zero}
}

func fail(format string, args ...any) shipgate.JobOutcome {
	return shipgate.JobOutcome{Reason: fmt.Sprintf(format, args...)}
}

func stopped(cause error, label string, code int) shipgate.JobOutcome {
	out := shipgate.JobOutcome{ExitCode: &code}
	var se *stopError
	if errors.As(cause, &se) {
		out.Cancelled = true
		out.Reason = fmt.Sprintf("%s was stopped: %s", label, se.reason)
	} else {
		out.Reason = fmt.Sprintf("%s: %v", label, cause)
	}
	return out
}

// baseEnv lists the variables of the runner's own environment a step
// inherits. Everything else (tokens, database URLs) stays with the runner.
var baseEnv = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL"}

func (r *Runner) environment(a *shipgate.Assignment, artifact, dir string) []string {
	var env []string
	for _, k := range baseEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range a.Job.Env {
		env = append(env, k+"="+v)
	}
	for k, v := range a.Inputs {
		env = append(env, shipgate.InputEnvName(k)+"="+v)
	}
	for k, v := range a.Secrets {
		env = append(env, shipgate.InputEnvName(k)+"="+v)
	}
	return append(env,
		"SHIPGATE_RELEASE_ID="+strconv.FormatInt(a.Key.ReleaseID, 10),
		"SHIPGATE_RUN="+strconv.Itoa(a.Key.Run),
		"SHIPGATE_JOB="+a.Key.Job,
		"SHIPGATE_ATTEMPT="+strconv.Itoa(a.Key.Attempt),
		"SHIPGATE_SERVICE="+a.Service,
		"SHIPGATE_ENVIRONMENT="+a.Env,
		"SHIPGATE_VERSION="+a.Version,
		"SHIPGATE_ARTIFACT_PATH="+artifact,
		"SHIPGATE_ARTIFACT_SHA256="+a.Artifact.SHA256,
		"SHIPGATE_WORKSPACE="+dir,
	)
}

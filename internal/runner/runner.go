package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
)

// Coordinator is the server side of the job hand-off, as the runner needs
// it: reconcile.Dispatcher in-process, client.Agent over HTTP.
type Coordinator interface {
	Claim(ctx context.Context, req shipgate.ClaimRequest) (*shipgate.Assignment, bool, error)
	Heartbeat(ctx context.Context, runner string, key shipgate.AttemptKey) (shipgate.HeartbeatReply, error)
	AppendLogs(ctx context.Context, runner string, key shipgate.AttemptKey, chunks []shipgate.LogChunk) error
	Finish(ctx context.Context, runner string, key shipgate.AttemptKey, out shipgate.JobOutcome) error
	// Held lists the attempts the server thinks the runner holds.
	Held(ctx context.Context, runner string) ([]shipgate.AttemptKey, error)
	// Artifact opens an artifact that is a file on the server.
	Artifact(ctx context.Context, runner string, key shipgate.AttemptKey) (io.ReadCloser, error)
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
	// Unauthorized, if set, is called when the server refuses the runner's
	// credentials (revoked, or replaced by a newer registration); claiming
	// stops either way.
	Unauthorized func(error)

	running sync.Map // AttemptKey → struct{}: attempts executing in this process
}

func (r *Runner) journal() journal { return journal{dir: filepath.Join(r.WorkDir, "journal")} }

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
	abs, err := filepath.Abs(r.WorkDir)
	if err != nil {
		return fmt.Errorf("runner work dir: %w", err)
	}
	r.WorkDir = abs // steps run in other directories; paths handed to them must be absolute
	if err := os.MkdirAll(r.WorkDir, 0o700); err != nil {
		return fmt.Errorf("runner work dir: %w", err)
	}
	r.recover(ctx)
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
	claimID := ""
	for ctx.Err() == nil {
		if claimID == "" {
			claimID = newClaimID()
		}
		a, ok, err := r.Coord.Claim(ctx, shipgate.ClaimRequest{Runner: r.Info, ClaimID: claimID, Wait: 30 * time.Second})
		if err != nil {
			// The claim may have been granted with the answer lost; retry it
			// under the same id so the server answers with that grant.
			if ctx.Err() != nil {
				return
			}
			if shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED {
				r.Logger.Error("the server refuses this runner's credentials; no more claims", "err", err)
				if r.Unauthorized != nil {
					r.Unauthorized(err)
				}
				return
			}
			r.Logger.Warn("claim failed", "runner", r.Info.Name, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		claimID, backoff = "", 100*time.Millisecond
		if ok {
			r.Execute(hard, a)
		}
	}
}

func newClaimID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// recover settles, after a restart, the attempts the server says this
// runner holds: a recorded outcome is reported; an attempt started without
// one is reported failed, not started again; an attempt never started
// (the claim's answer was lost) is handed back without using up a retry.
func (r *Runner) recover(ctx context.Context) {
	held, err := r.Coord.Held(ctx, r.Info.Name)
	if err != nil {
		r.Logger.Warn("could not list held attempts; their leases will decide", "err", err)
		return
	}
	j := r.journal()
	for _, k := range held {
		e, ok, err := j.read(k)
		out := shipgate.JobOutcome{NotStarted: true, Reason: fmt.Sprintf("runner %s restarted before starting it", r.Info.Name)}
		switch {
		case err != nil:
			r.Logger.Warn("journal unreadable", "err", err)
			continue
		case ok && e.Outcome != nil:
			out = *e.Outcome
		case ok:
			out = shipgate.JobOutcome{Reason: fmt.Sprintf("runner %s restarted while the attempt was running; it was not started again", r.Info.Name)}
		}
		r.report(ctx, k, out, r.Logger.With("release", k.ReleaseID, "job", k.Job, "attempt", k.Attempt))
	}
	// Entries the server no longer counts as held are settled already.
	entries, _ := j.all()
	for _, e := range entries {
		if !slices.Contains(held, e.Key) {
			j.forget(e.Key)
		}
	}
}

// Execute runs one attempt to its end and reports the outcome. An attempt
// this runner has started before is never started again.
func (r *Runner) Execute(ctx context.Context, a *shipgate.Assignment) shipgate.JobOutcome {
	log := r.Logger.With("release", a.Key.ReleaseID, "run", a.Key.Run, "job", a.Key.Job, "attempt", a.Key.Attempt)
	if _, busy := r.running.LoadOrStore(a.Key, struct{}{}); busy {
		log.Warn("attempt delivered again while running; ignored")
		return shipgate.JobOutcome{Reason: "already running"}
	}
	defer r.running.Delete(a.Key)
	j := r.journal()
	if e, ok, err := j.read(a.Key); err != nil || ok {
		out := shipgate.JobOutcome{Reason: "the runner started this attempt before and lost track of it; it was not started again"}
		if err != nil {
			out.Reason = "the runner's journal is unreadable: " + err.Error()
		} else if e.Outcome != nil {
			out = *e.Outcome
		}
		log.Warn("attempt delivered again; reporting instead of running", "outcome", out)
		r.report(ctx, a.Key, out, log)
		return out
	}
	if err := j.write(entry{Key: a.Key}); err != nil {
		out := shipgate.JobOutcome{NotStarted: true, Reason: "the runner cannot write its journal: " + err.Error()}
		r.report(ctx, a.Key, out, log)
		return out
	}
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
	interval := r.HeartbeatInterval
	if ttl := a.LeaseTTL.Std(); ttl > 0 {
		interval = max(min(interval, ttl/3), 50*time.Millisecond) // several beats per lease
	}
	go r.heartbeat(jobCtx, a.Key, interval, cancel, hbDone, log)

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
		// says nothing about the job: report nothing; the journal says it
		// was started, so the next start of this runner reports it as
		// interrupted (or its lease runs out first).
		log.Warn("attempt interrupted by runner shutdown")
		return out
	}
	if err := j.write(entry{Key: a.Key, Outcome: &out}); err != nil {
		log.Warn("could not journal the outcome", "err", err)
	}
	r.report(ctx, a.Key, out, log)
	return out
}

func (r *Runner) heartbeat(ctx context.Context, key shipgate.AttemptKey, interval time.Duration, cancel context.CancelCauseFunc, done chan<- struct{}, log *slog.Logger) {
	defer close(done)
	t := time.NewTicker(interval)
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
	for i := 0; i < 30; i++ {
		err := r.Coord.Finish(ctx, r.Info.Name, key, out)
		if err == nil {
			r.journal().forget(key)
			return
		}
		code := shipgate.ErrorCode(err)
		if code == shipgate.ECONFLICT || code == shipgate.ENOTFOUND {
			log.Warn("outcome not accepted", "err", err)
			r.journal().forget(key)
			return
		}
		log.Warn("reporting outcome failed; retrying", "err", err)
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
	log.Error("gave up reporting the outcome for now; it stays in the journal for the next start", "outcome", out)
}

func (r *Runner) execute(ctx context.Context, a *shipgate.Assignment, logs *shipper) shipgate.JobOutcome {
	dir := filepath.Join(r.WorkDir, "jobs", fmt.Sprintf("r%d-run%d-%s-a%d", a.Key.ReleaseID, a.Key.Run, a.Key.Job, a.Key.Attempt))
	if err := os.RemoveAll(dir); err != nil {
		return fail("prepare workspace: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("prepare workspace: %v", err)
	}
	logs.flushLine("system", fmt.Sprintf("attempt %d of %d on agent %s", a.Key.Attempt, a.Job.MaxAttempts(), r.Info.Name))
	artifact, err := r.fetchArtifact(ctx, a)
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

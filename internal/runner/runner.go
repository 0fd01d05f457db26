package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
	"go.opentelemetry.io/otel/trace"
)

// Coordinator is the server side of the job hand-off, as the runner needs
// it: reconcile.Dispatcher in-process, client.Agent over HTTP.
type Coordinator interface {
	Claim(ctx context.Context, req shipgate.ClaimRequest) (*shipgate.Assignment, bool, error)
	Heartbeat(ctx context.Context, runner string, key shipgate.AttemptKey) (shipgate.HeartbeatReply, error)
	AppendLogs(ctx context.Context, runner string, key shipgate.AttemptKey, chunks []shipgate.LogChunk) error
	Finish(ctx context.Context, runner string, key shipgate.AttemptKey, out shipgate.JobOutcome) error
	// Held lists the attempts the server thinks the runner holds.
	Held(ctx context.Context, runner string) ([]shipgate.HeldAttempt, error)
	// Artifact opens an artifact that is a file on the server.
	Artifact(ctx context.Context, runner string, key shipgate.AttemptKey) (io.ReadCloser, error)
	// Probes reports health-check probes; recovered says a failed check
	// passed again while its rollback waited.
	Probes(ctx context.Context, runner string, key shipgate.AttemptKey, probes []shipgate.ProbeResult, recovered bool) (shipgate.ProbeReply, error)
	// Rollout reports the progress of a rollout the runner holds and
	// returns what people decided about it (promotions).
	Rollout(ctx context.Context, runner string, key shipgate.AttemptKey, status shipgate.RolloutStatus) (shipgate.RolloutReply, error)
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
	// Ready, if set, is called once the runner has settled what it held
	// before a restart and starts claiming.
	Ready func()
	// Services, if set, lets the runner run jobs that declare a service:
	// it supervises their processes and routes their traffic.
	Services *Services
	// HTTPClient downloads artifact URLs and asks Prometheus and HTTP
	// metric providers. The runner built into the server gets one that
	// obeys the server's egress policy; nil (an agent) means a plain
	// client: an agent reaches what its host reaches.
	HTTPClient *http.Client
	// ServiceEnv, if set, adds variables to the environment of a service
	// process the runner starts: the agent's local flags endpoint and the
	// service's flags (internal/agentflags). They come before the service
	// file's own env, which may override them.
	ServiceEnv func(ctx context.Context, service, env string) []string
	// Tracer, if set, makes a span of each step, a child of the job's span
	// the server names in the assignment; nil leaves step spans to the
	// steps themselves (TRACEPARENT is then the job's span).
	Tracer trace.Tracer

	running  sync.Map // AttemptKey → struct{}: attempts executing in this process
	instance string
}

func (r *Runner) httpClient() *http.Client {
	if r.HTTPClient != nil {
		return r.HTTPClient
	}
	return http.DefaultClient
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
	if r.instance == "" {
		if err := r.loadInstance(); err != nil {
			return fmt.Errorf("runner instance id: %w", err)
		}
	}
	r.recover(ctx)
	if r.Ready != nil {
		r.Ready()
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
	claimID := ""
	for ctx.Err() == nil {
		if claimID == "" {
			claimID = r.instance + "." + newClaimID()
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
			if out := r.Execute(hard, a); out.NotStarted {
				// This runner could not start it (its journal is not
				// writable): pause before claiming more.
				select {
				case <-ctx.Done():
					return
				case <-time.After(5 * time.Second):
				}
			}
		}
	}
}

func newClaimID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// recover settles, after a restart, the attempts this runner instance
// claimed that the server says it still holds: a recorded outcome is
// reported; an attempt started without one is reported failed, not started
// again; an attempt never started (the claim's answer was lost) is handed
// back without using up a retry. Attempts claimed by another instance with
// the same name (another process, another work dir) are not this one's to
// settle: their own runner, or their lease, decides.
func (r *Runner) recover(ctx context.Context) {
	held, err := r.Coord.Held(ctx, r.Info.Name)
	if err != nil {
		r.Logger.Warn("could not list held attempts; their leases will decide", "err", err)
		return
	}
	j := r.journal()
	mine := map[shipgate.AttemptKey]bool{}
	for _, h := range held {
		if !strings.HasPrefix(h.ClaimID, r.instance+".") {
			continue
		}
		k := h.Key
		mine[k] = true
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
		if !mine[e.Key] {
			j.forget(e.Key)
		}
	}
}

// loadInstance reads the runner's instance id from its work dir.
func (r *Runner) loadInstance() (err error) {
	r.instance, err = InstanceID(r.WorkDir)
	return err
}

// InstanceID returns the instance id kept in workDir, making one on first
// use. It outlives restarts and is unique per work dir; an agent registers
// with it so that no other process can take over its name while it lives.
func InstanceID(workDir string) (string, error) {
	path := filepath.Join(workDir, "instance-id")
	b, err := os.ReadFile(path)
	if id := strings.TrimSpace(string(b)); err == nil && id != "" {
		return id, nil
	}
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return "", err
	}
	id := newClaimID()[:16]
	return id, os.WriteFile(path, []byte(id+"\n"), 0o600)
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
	logs := newShipper(ctx, r.Coord, r.Info.Name, a.Key, secrets, log)
	go logs.run()

	// The job context ends on timeout, on a cancel from the server, or when
	// the runner is stopped hard.
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timeout := a.Job.EffectiveTimeout()
	jobCtx, cancelTimeout := context.WithTimeoutCause(jobCtx, timeout, fmt.Errorf("timed out after %s", timeout))
	defer cancelTimeout()
	// Heartbeats go on until the outcome is acknowledged: the lease must not
	// run out while logs drain or the report waits for a restarting server.
	hbCtx, stopHeartbeats := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go r.heartbeat(hbCtx, a.Key, a.LeaseTTL.Std(), cancel, hbDone, log)
	defer func() { stopHeartbeats(); <-hbDone }()

	var ck *checker
	out := r.execute(jobCtx, a, logs, &ck)
	cancel(nil)
	if out.Succeeded {
		logs.flushLine("system", "job succeeded")
	} else {
		logs.flushLine("system", "job failed: "+out.Reason)
	}
	logs.close()
	// Give the logs a while to land before the outcome; the outcome matters
	// more, and the shipper keeps trying after it.
	waitCtx, stopWaiting := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	if err := logs.wait(waitCtx); err != nil {
		log.Warn("not every log chunk has been shipped yet", "err", err)
	}
	stopWaiting()
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
	if ck != nil && !out.Succeeded && !out.Cancelled && a.Watch > 0 {
		// The failed check's rollback waits: keep probing, so a recovery
		// within the delay calls it off. Its lines continue the attempt's
		// log numbering.
		w := newShipper(ctx, r.Coord, r.Info.Name, a.Key, nil, log)
		w.seq = logs.seq
		go w.run()
		ck.logs = w
		ck.watch(ctx, a.Watch.Std()+a.Job.EffectiveTimeout())
		w.close()
		w.wait(context.WithoutCancel(ctx))
	}
	return out
}

// heartbeat extends the attempt's lease every third of its TTL. It stops
// the attempt when the server says so, when the server refuses the runner's
// credentials, and when it has not reached the server for a whole TTL: by
// then the server may have handed the job to someone else, and the two
// must not run side by side for longer than that.
func (r *Runner) heartbeat(ctx context.Context, key shipgate.AttemptKey, ttl time.Duration, cancel context.CancelCauseFunc, done chan<- struct{}, log *slog.Logger) {
	defer close(done)
	interval := r.HeartbeatInterval
	if ttl > 0 {
		interval = max(min(interval, ttl/3), 50*time.Millisecond)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastOK := time.Now() // monotonic: immune to clock steps
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		reply, err := r.Coord.Heartbeat(ctx, r.Info.Name, key)
		switch {
		case ctx.Err() != nil:
			return
		case shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED:
			cancel(&stopError{reason: "the server no longer accepts this runner's credentials"})
			return
		case err != nil:
			log.Warn("heartbeat failed", "err", err)
			if ttl > 0 && time.Since(lastOK) >= ttl {
				cancel(&stopError{reason: fmt.Sprintf("no contact with the server for %s, a whole lease; stopping so that a retry elsewhere does not overlap", time.Since(lastOK).Round(time.Second))})
				return
			}
			continue
		case reply.Cancel:
			cancel(&stopError{reason: reply.Reason})
			return
		}
		lastOK = time.Now()
	}
}

// stopError is the cause of a job context ended by the server.
type stopError struct{ reason string }

func (e *stopError) Error() string { return "stopped by the server: " + e.reason }

// report delivers the outcome, retrying for as long as the runner lives:
// the journal keeps it for the next start if the runner stops first.
func (r *Runner) report(ctx context.Context, key shipgate.AttemptKey, out shipgate.JobOutcome, log *slog.Logger) {
	backoff := 200 * time.Millisecond
	for {
		err := r.Coord.Finish(context.WithoutCancel(ctx), r.Info.Name, key, out)
		if err == nil {
			r.journal().forget(key)
			return
		}
		switch shipgate.ErrorCode(err) {
		case shipgate.ECONFLICT, shipgate.ENOTFOUND, shipgate.EINVALID:
			log.Warn("outcome not accepted", "err", err)
			r.journal().forget(key)
			return
		case shipgate.EUNAUTHORIZED:
			log.Error("the server no longer accepts this runner's credentials; the outcome stays in the journal", "outcome", out)
			return
		}
		log.Warn("reporting the outcome failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			log.Warn("runner stopping; the outcome stays in the journal for its next start", "outcome", out)
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (r *Runner) execute(ctx context.Context, a *shipgate.Assignment, logs *shipper, ckOut **checker) shipgate.JobOutcome {
	dir := filepath.Join(r.WorkDir, "jobs", fmt.Sprintf("r%d-run%d-%s-a%d", a.Key.ReleaseID, a.Key.Run, a.Key.Job, a.Key.Attempt))
	if err := os.RemoveAll(dir); err != nil {
		return fail("prepare workspace: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("prepare workspace: %v", err)
	}
	logs.flushLine("system", fmt.Sprintf("attempt %d of %d on agent %s", a.Key.Attempt, a.Job.MaxAttempts(), r.Info.Name))
	if a.Job.Service != nil {
		// The version goes into the service's argv (${VERSION}), its
		// directory and its logs. The server refuses such versions today;
		// one stored before it did, or sent by a server that does not, is
		// not started.
		if err := shipgate.ValidateVersion(a.Version); err != nil {
			msg := "not starting the service: " + shipgate.ErrorMessage(err) + "; release it again under a valid version"
			logs.flushLine("system", msg)
			return fail("%s", msg)
		}
	}
	artifact, err := r.fetchArtifact(ctx, a)
	if err != nil {
		logs.flushLine("system", err.Error())
		return fail("%v", err)
	}
	env := r.environment(a, artifact, dir)
	if a.Job.Service != nil {
		out := r.rollout(ctx, a, artifact, dir, env, logs)
		out.Reason = logs.masker.mask(out.Reason) // it may quote a crashed service's log
		return out
	}
	if a.Job.Check != nil {
		// A check's command runs as part of the job's span. (A service
		// process gets no TRACEPARENT: its own spans are not its deploy's.)
		*ckOut = r.newChecker(a, dir, append(env, jobTraceEnv(a)...), logs, r.Logger)
		return (*ckOut).run(ctx)
	}
	for i, step := range a.Job.Steps {
		label := step.Label(i)
		logs.flushLine("system", "▶ "+label)
		tenv, endSpan := r.stepSpan(a, i, step)
		code, err := r.runStep(ctx, step, dir, append(env[:len(env):len(env)], tenv...), logs)
		endSpan(code, err)
		if cause := context.Cause(ctx); ctx.Err() != nil {
			return stopped(cause, label, code)
		}
		if err != nil {
			return fail("%s could not start: %v", label, err)
		}
		if len(step.Evidence) > 0 {
			if err := r.attachEvidence(ctx, a, step, dir, logs, code == 0); err != nil && code == 0 {
				return fail("%s: %v", label, err)
			}
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

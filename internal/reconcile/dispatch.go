package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// MaxLogChunk is the largest log chunk accepted, in bytes.
const MaxLogChunk = 64 << 10

// maxHandBacks bounds how often a job may be handed back unstarted before
// it fails: a runner that cannot start anything (a full disk) must not
// spin on it forever.
const maxHandBacks = 5

// Dispatcher hands queued jobs to runners and takes their reports. Every
// method is one transaction; outcomes are reconciled into the release in
// the same transaction.
type Dispatcher struct {
	DB       *sqlstore.DB
	Secrets  *shipgate.SecretBox
	LeaseTTL time.Duration
	// Work is notified when jobs may have become claimable.
	Work *Signal
	// Reconciler, if set, is kicked after reports so timers are recomputed.
	Reconciler *Reconciler
	// MaxJobLogBytes bounds each job's stored log; 0 is unbounded.
	MaxJobLogBytes int64
	// LostAfter is how long an agent may be silent before it counts as
	// lost; 0 means 45s. A service job waits for the agent that runs its
	// service unless that agent is lost, draining or revoked.
	LostAfter time.Duration
	// Artifacts is the store runners are served artifacts from, by
	// digest. ArtifactSources, if set, are where a release's artifact path
	// is imported from when the store lacks it (see EnsureArtifact).
	Artifacts       *artifactstore.Store
	ArtifactSources *artifactstore.Sources

	waiters waitQueue
}

// Claim gives the runner the oldest queued job it is eligible for, waiting
// up to req.Wait for one to appear. ok is false when none did. A claim
// repeated with the same ClaimID gets the assignment the first one got, as
// long as the runner still holds it.
//
// A claim that finds nothing joins a queue of waiting claims. When work may
// have appeared, one pass assigns queued jobs to waiting claims in arrival
// order, in a single transaction, so hundreds of idle runners cost one
// write per change rather than one each.
func (d *Dispatcher) Claim(ctx context.Context, req shipgate.ClaimRequest) (a *shipgate.Assignment, ok bool, err error) {
	a, err = d.claim1(ctx, req)
	if a != nil && ctx.Err() != nil {
		// The caller is gone (an agent shutting down, a dropped
		// connection): give the job straight back, unstarted.
		d.handBack(a, req.Runner.Name, "the claim was abandoned before its answer could be delivered")
		return nil, false, ctx.Err()
	}
	return a, a != nil, err
}

func (d *Dispatcher) claim1(ctx context.Context, req shipgate.ClaimRequest) (*shipgate.Assignment, error) {
	if a, err := d.claimOnce(ctx, req); err != nil || a != nil {
		return a, err
	}
	if req.Wait <= 0 {
		return nil, nil
	}
	w := d.waiters.add(req, d.dispatchLoop)
	t := time.NewTimer(req.Wait)
	defer t.Stop()
	var err error
	select {
	case a := <-w.result:
		return a, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
	}
	if d.waiters.leave(w) {
		return nil, err
	}
	// A pass is answering, or has answered, this claim; its answer must not
	// be dropped, or the job would sit leased to a runner that never heard.
	return <-w.result, err
}

// Waiting counts the claims waiting for work, for monitoring and for tests
// that need a claim to be waiting before they queue work.
func (d *Dispatcher) Waiting() int { return d.waiters.len() }

// handBack returns an assignment nobody will act on, without using up one
// of the job's retries.
func (d *Dispatcher) handBack(a *shipgate.Assignment, runner, reason string) {
	err := d.Finish(context.Background(), runner, a.Key, shipgate.JobOutcome{NotStarted: true, Reason: reason})
	if err != nil && d.Reconciler != nil && d.Reconciler.Logger != nil {
		d.Reconciler.Logger.Warn("hand back an undelivered claim; its lease will decide", "key", a.Key, "err", err)
	}
}

// dispatchLoop runs passes while claims wait.
func (d *Dispatcher) dispatchLoop() {
	for {
		ready := d.Work.C()
		d.dispatchPass()
		if !d.waiters.stillWaiting() {
			return
		}
		t := time.NewTimer(time.Second) // backstop for other servers' changes
		select {
		case <-ready:
		case <-t.C:
		}
		t.Stop()
	}
}

// dispatchPass assigns queued jobs to waiting claims in one transaction.
func (d *Dispatcher) dispatchPass() {
	ctx := context.Background()
	batch := d.waiters.reserve()
	if len(batch) == 0 {
		return
	}
	got := make([]*shipgate.Assignment, len(batch))
	failed := false
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		clear(got)
		var queue []sqlstore.QueuedJob
		var cursor sqlstore.QueueCursor
		for {
			page, err := tx.ListQueuedJobs(ctx, cursor, 500)
			if err != nil {
				return err
			}
			queue = append(queue, page...)
			if len(page) < 500 || len(queue) >= 5000 {
				break
			}
			cursor = page[len(page)-1].Cursor
		}
		taken := make([]bool, len(queue))
		rels, homes := releaseCache{}, homeCache{}
		// Claims wait up to a minute: an agent drained or cut off since its
		// claim arrived must not be handed work (or secrets) now.
		blocked, err := tx.BlockedAgents(ctx)
		if err != nil {
			return err
		}
		for i, w := range batch {
			if d.waiters.isGone(w) || blocked[w.req.Runner.Name] {
				continue // its claim gave up, or its agent may no longer work
			}
			for k, q := range queue {
				if taken[k] || !eligible(w.req.Runner, q) {
					continue
				}
				a, fail, err := d.claim(ctx, tx, w.req, q.ID, rels, homes)
				if err != nil {
					return err
				}
				// A job this claim could not take (a service job waiting
				// for its own agent) stays for the next claims.
				taken[k] = a != nil || fail
				failed = failed || fail
				if a != nil {
					got[i] = a
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		clear(got) // nothing was handed out
	}
	d.waiters.settle(batch, got)
	if failed && err == nil && d.Reconciler != nil {
		d.Reconciler.Kick()
	}
}

// candidate reports, from a read-only snapshot, whether a claim by req
// could find anything. Every change wakes every waiting claim; looking
// before taking the write lock keeps a herd of idle runners from queueing
// for it one by one.
func (d *Dispatcher) candidate(ctx context.Context, req shipgate.ClaimRequest) (bool, error) {
	found := false
	err := d.DB.View(ctx, func(tx *sqlstore.Tx) error {
		if req.ClaimID != "" {
			_, ok, err := tx.FindClaim(ctx, req.Runner.Name, req.ClaimID)
			if err != nil || ok {
				found = ok
				return err
			}
		}
		var cursor sqlstore.QueueCursor
		for {
			queued, err := tx.ListQueuedJobs(ctx, cursor, 200)
			if err != nil {
				return err
			}
			for _, q := range queued {
				if eligible(req.Runner, q) {
					found = true
					return nil
				}
			}
			if len(queued) < 200 {
				return nil
			}
			cursor = queued[len(queued)-1].Cursor
		}
	})
	return found, err
}

func (d *Dispatcher) claimOnce(ctx context.Context, req shipgate.ClaimRequest) (*shipgate.Assignment, error) {
	if ok, err := d.candidate(ctx, req); err != nil || !ok {
		return nil, err
	}
	runner := req.Runner
	var a *shipgate.Assignment
	failed := false
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		if req.ClaimID != "" {
			j, ok, err := tx.FindClaim(ctx, runner.Name, req.ClaimID)
			if err != nil || ok {
				if ok {
					a, err = d.assignment(ctx, tx, j, releaseCache{})
				}
				return err
			}
		}
		// Page through the whole queue: jobs no runner can take must not
		// hide the ones this runner can.
		var cursor sqlstore.QueueCursor
		for {
			queued, err := tx.ListQueuedJobs(ctx, cursor, 200)
			if err != nil {
				return err
			}
			for _, q := range queued {
				if !eligible(runner, q) {
					continue
				}
				var ok bool
				a, ok, err = d.claim(ctx, tx, req, q.ID, releaseCache{}, homeCache{})
				if err != nil || a != nil {
					return err
				}
				failed = failed || ok
			}
			if len(queued) < 200 {
				return nil
			}
			cursor = queued[len(queued)-1].Cursor
		}
	})
	if failed && err == nil {
		d.Work.Notify()
		if d.Reconciler != nil {
			d.Reconciler.Kick()
		}
	}
	return a, err
}

// eligible reports whether the runner may take a queued job: it has the
// labels the job asks for, and may take jobs of its environment (an agent
// is limited to its join token's environments).
func eligible(ri shipgate.RunnerInfo, q sqlstore.QueuedJob) bool {
	return ri.Matches(q.RunsOn) && ri.MayRun(q.Environment)
}

// claim hands job id to the runner inside tx. A job whose secret inputs
// cannot be decrypted with this server's key is failed with that reason
// instead (failed is true), rather than handed out without them or left
// running under a lease nobody holds.
func (d *Dispatcher) claim(ctx context.Context, tx *sqlstore.Tx, req shipgate.ClaimRequest, id int64, rels releaseCache, homes homeCache) (a *shipgate.Assignment, failed bool, err error) {
	if only, ok := homes[id]; ok && only != "" && only != req.Runner.Name {
		return nil, false, nil // decided earlier in this pass: it waits for its service's agent
	}
	j, err := tx.FindJob(ctx, id)
	if err != nil {
		return nil, false, err
	}
	r, err := rels.find(ctx, tx, j.ReleaseID)
	if err != nil {
		return nil, false, err
	}
	if r.State != shipgate.StateRunning || r.Run != j.Run {
		return nil, false, nil
	}
	if !req.Runner.MayRun(r.Environment) {
		// Judged again on the release itself, before any secret is opened:
		// the job and its secrets are never this runner's.
		return nil, false, nil
	}
	only, ok := homes[j.ID]
	if !ok {
		if only, err = d.ServiceHome(ctx, tx, r, j); err != nil {
			return nil, false, err
		}
		homes[j.ID] = only
	}
	if only != "" && only != req.Runner.Name {
		return nil, false, nil // it waits for the agent that runs its service
	}
	now := tx.Now()
	subject := fmt.Sprintf("release/%d", r.ID)
	if _, err := d.openSecrets(ctx, tx, r.ID); err != nil {
		j.State, j.Reason, j.FinishedAt = shipgate.JobFailed, err.Error(), &now
		if err := tx.UpdateJob(ctx, &j); err != nil {
			return nil, false, err
		}
		if err := tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobFinished, subject, map[string]any{
			"job": j.Name, "run": j.Run, "attempt": j.Attempt, "state": shipgate.JobFailed, "reason": j.Reason,
		})); err != nil {
			return nil, false, err
		}
		_, _, err = Release(ctx, tx, r.ID)
		delete(rels, r.ID) // reconciling changed it
		return nil, true, err
	}
	lease := now.Add(d.LeaseTTL)
	j.State, j.Attempt, j.Runner, j.ClaimID, j.LeaseUntil, j.StartedAt, j.FinishedAt, j.ExitCode, j.Reason =
		shipgate.JobRunning, j.Attempt+1, req.Runner.Name, req.ClaimID, &lease, &now, nil, nil, ""
	if err := tx.UpdateJob(ctx, &j); err != nil {
		return nil, false, err
	}
	if err := tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobStarted, subject, map[string]any{
		"job": j.Name, "run": j.Run, "attempt": j.Attempt, "runner": req.Runner.Name,
	})); err != nil {
		return nil, false, err
	}
	a, err = d.assignment(ctx, tx, j, rels)
	return a, false, err
}

// ServiceHome returns the only runner that may take job j: for a job that
// declares a service, the agent that last ran it — it has the service's
// processes and router; a rollout elsewhere would start a "first version"
// with nothing to compare against while the old host keeps serving. ""
// means any matching runner: the job has no service, never ran, or its
// agent is lost, draining, revoked, no longer has the labels runs_on asks
// for (the service is being moved), or may no longer take jobs of the
// release's environment (it re-joined with a token limited to others).
func (d *Dispatcher) ServiceHome(ctx context.Context, tx *sqlstore.Tx, r *shipgate.Release, j shipgate.JobRun) (string, error) {
	spec, ok := r.Pipeline.Job(j.Name)
	if !ok || spec.Service == nil {
		return "", nil
	}
	home, err := tx.ServiceHome(ctx, r.Service, r.Environment, j.Name, j.ID)
	if err != nil || home == "" {
		return "", err
	}
	a, err := tx.FindAgent(ctx, home)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return "", nil // the built-in runner, or an agent since removed
	}
	if err != nil {
		return "", err
	}
	lost := d.LostAfter
	if lost <= 0 {
		lost = 45 * time.Second
	}
	if !a.Info().Matches(spec.RunsOn) || !a.Info().MayRun(r.Environment) || a.StateAt(tx.Now(), lost) != shipgate.AgentOnline {
		return "", nil
	}
	blocked, err := tx.BlockedAgents(ctx)
	if err != nil || blocked[home] {
		return "", err
	}
	return home, nil
}

// homeCache keeps serviceHome's answers within one transaction, by job id.
type homeCache map[int64]string

// releaseCache keeps releases decoded within one transaction: a pass hands
// out many jobs of the same release, and decoding its frozen pipeline is the
// expensive part.
type releaseCache map[int64]*shipgate.Release

func (c releaseCache) find(ctx context.Context, tx *sqlstore.Tx, id int64) (*shipgate.Release, error) {
	if r, ok := c[id]; ok {
		return r, nil
	}
	r, err := tx.FindRelease(ctx, id)
	if err == nil {
		c[id] = r
	}
	return r, err
}

// assignment builds what a runner needs to execute the attempt j holds.
func (d *Dispatcher) assignment(ctx context.Context, tx *sqlstore.Tx, j shipgate.JobRun, rels releaseCache) (*shipgate.Assignment, error) {
	r, err := rels.find(ctx, tx, j.ReleaseID)
	if err != nil {
		return nil, err
	}
	spec, ok := r.Pipeline.Job(j.Name)
	if !ok {
		return nil, fmt.Errorf("job %s is not in the pipeline of release %d", j.Name, r.ID)
	}
	secrets, err := d.openSecrets(ctx, tx, r.ID)
	if err != nil {
		return nil, err
	}
	a := &shipgate.Assignment{
		Key:   shipgate.AttemptKey{ReleaseID: r.ID, Run: j.Run, Job: j.Name, Attempt: j.Attempt},
		JobID: j.ID, Service: r.Service, Env: r.Environment, Version: r.Version,
		Artifact: r.Artifact, Job: *spec, Inputs: maps.Clone(r.Inputs), Secrets: secrets, LeaseUntil: *j.LeaseUntil,
		LeaseTTL: shipgate.Duration(d.LeaseTTL),
	}
	if delay := r.Policy.Rollback.DelaySeconds; spec.Check != nil && delay > 0 && r.RollbackTriggered(spec.Name) {
		a.Watch = shipgate.Duration(time.Duration(delay) * time.Second)
	}
	return a, nil
}

// attachProbes puts a failed check's last probes into its audit event, so
// the timeline shows the evidence the release failed on.
func attachProbes(ctx context.Context, tx *sqlstore.Tx, j shipgate.JobRun, details map[string]any) error {
	probes, err := tx.ListProbes(ctx, j.ReleaseID, j.Run, 10)
	if err != nil {
		return err
	}
	for _, jp := range probes {
		if jp.Job != j.Name || jp.Attempt != j.Attempt {
			continue
		}
		var list []map[string]any
		for _, p := range jp.Probes {
			list = append(list, map[string]any{"seq": p.Seq, "at": p.At.Format(time.RFC3339Nano), "ok": p.OK, "latency_ms": p.LatencyMS, "reason": p.Reason})
		}
		details["probes"] = list
	}
	return nil
}

// Held lists the attempts runner holds, so a restarted runner can settle
// each one from its journal.
func (d *Dispatcher) Held(ctx context.Context, runner string) ([]shipgate.HeldAttempt, error) {
	out := []shipgate.HeldAttempt{}
	err := d.DB.View(ctx, func(tx *sqlstore.Tx) error {
		jobs, err := tx.HeldBy(ctx, runner)
		for _, j := range jobs {
			out = append(out, shipgate.HeldAttempt{Key: shipgate.AttemptKey{ReleaseID: j.ReleaseID, Run: j.Run, Job: j.Name, Attempt: j.Attempt}, ClaimID: j.ClaimID})
		}
		return err
	})
	return out, err
}

// Probes stores probe results of a check attempt the runner holds or
// held. recovered says the check passed again after failing: a pending
// rollback of its release is then called off. The reply tells a runner
// watching a failed check whether the rollback still waits.
func (d *Dispatcher) Probes(ctx context.Context, runner string, key shipgate.AttemptKey, probes []shipgate.ProbeResult, recovered bool) (shipgate.ProbeReply, error) {
	var reply shipgate.ProbeReply
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		if err := tx.StoreProbes(ctx, j.ID, key.Attempt, probes); err != nil {
			return err
		}
		if j.State == shipgate.JobRunning {
			return nil
		}
		r, err := tx.FindRelease(ctx, key.ReleaseID)
		if err != nil {
			return err
		}
		if !r.State.Final() {
			return nil // other jobs still run; the rollback is not decided yet
		}
		if recovered {
			if _, err := tx.CallOffRollback(ctx, key.ReleaseID, fmt.Sprintf("health check %s recovered: it passed again after failing, before the rollback fired", j.Name)); err != nil {
				return err
			}
		}
		rb, err := tx.FindRollback(ctx, key.ReleaseID)
		reply.Stop = err != nil || rb.State != shipgate.RollbackPending
		return nil
	})
	return reply, err
}

// Artifact opens the artifact of an attempt the runner holds, from the
// artifact store, by the digest the release pinned, verified as it is read
// (artifactstore.Store.Open): stored bytes that no longer match are never
// delivered. The file the release named is not opened for it, so a file
// replaced after creation (by other bytes, or by a symlink to the server's
// key) changes nothing. A URL artifact the server did not store is the
// runner's to download.
func (d *Dispatcher) Artifact(ctx context.Context, runner string, key shipgate.AttemptKey) (io.ReadCloser, error) {
	var art shipgate.Artifact
	err := d.DB.View(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		if j.State != shipgate.JobRunning {
			return shipgate.Errorf(shipgate.ECONFLICT, "job %s is %s", j.Name, j.State)
		}
		r, err := tx.FindRelease(ctx, key.ReleaseID)
		if err != nil {
			return err
		}
		art = r.Artifact
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !art.Stored && isURL(art.Location) {
		return nil, shipgate.Errorf(shipgate.EINVALID, "artifact %s is a URL; download it from there", art.Location)
	}
	if err := d.EnsureArtifact(ctx, key.ReleaseID, art); err != nil {
		return nil, err
	}
	rc, err := d.Artifacts.Open(art.SHA256)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return rc, nil
}

func isURL(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// EnsureArtifact makes sure the store holds the artifact release id pins,
// importing it from its path when it does not: a release created before
// the store existed, or one whose bytes gc removed. An import opens the
// path under ArtifactSources (never outside its roots, never the data
// directory) and keeps the bytes only if they have the pinned digest. A
// URL artifact the server did not store needs nothing.
func (d *Dispatcher) EnsureArtifact(ctx context.Context, id int64, art shipgate.Artifact) error {
	if !art.Stored && isURL(art.Location) {
		return nil
	}
	if d.Artifacts == nil {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no artifact store to serve release %d's artifact from", id)
	}
	_, err := d.Artifacts.Stat(art.SHA256)
	if shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		return err
	}
	missing := fmt.Sprintf("artifact sha256 %s of release %d is not in this server's artifact store %s (removed by shipgate artifact gc, or created by a server with another --artifact-store)", art.SHA256, id, d.Artifacts.Dir())
	if isURL(art.Location) {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s", missing)
	}
	if d.ArtifactSources == nil {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s, and this server imports no artifact paths", missing)
	}
	f, err := d.ArtifactSources.Open(strings.TrimPrefix(art.Location, "file://"))
	if err != nil {
		return shipgate.Errorf(shipgate.ErrorCode(err), "%s, and cannot be imported from its path: %s", missing, shipgate.ErrorMessage(err))
	}
	defer f.Close()
	res, err := d.Artifacts.Put(f, art.SHA256)
	var re *artifactstore.ReadError
	switch {
	case errors.As(err, &re):
		return shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be read: %v", art.Location, re.Err)
	case err != nil:
		return fmt.Errorf("import the artifact of release %d from %s: %w", id, art.Location, err)
	case !res.Stored:
		return shipgate.Errorf(shipgate.ETOOLARGE, "artifact %s of release %d is %d bytes, more than this server stores (--max-artifact-bytes)", art.Location, id, res.Size)
	}
	if d.Reconciler != nil && d.Reconciler.Logger != nil {
		d.Reconciler.Logger.Info("imported a release's artifact into the store", "release", id, "path", art.Location, "sha256", art.SHA256)
	}
	return nil
}

func (d *Dispatcher) openSecrets(ctx context.Context, tx *sqlstore.Tx, releaseID int64) (map[string]string, error) {
	sealed, err := tx.ReleaseSecrets(ctx, releaseID)
	if err != nil || len(sealed) == 0 {
		return nil, err
	}
	out := map[string]string{}
	for name, s := range sealed {
		if d.Secrets == nil {
			return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d has secret inputs but this server has no secret key", releaseID)
		}
		v, err := d.Secrets.Open(name, s)
		if err != nil {
			return nil, fmt.Errorf("%v: servers sharing a database must share SHIPGATE_SECRET_KEY", err)
		}
		out[name] = v
	}
	return out, nil
}

// current loads the job of key and checks that runner holds that attempt.
func current(ctx context.Context, tx *sqlstore.Tx, runner string, key shipgate.AttemptKey) (shipgate.JobRun, error) {
	j, err := tx.FindAttempt(ctx, key)
	if err != nil {
		return j, err
	}
	if j.Attempt != key.Attempt || j.Runner != runner {
		return j, shipgate.Errorf(shipgate.ECONFLICT, "attempt %d of job %s is not held by runner %s (current attempt %d on %q)", key.Attempt, key.Job, runner, j.Attempt, j.Runner)
	}
	return j, nil
}

// Heartbeat extends the lease of a running attempt, or tells the runner to
// stop it.
func (d *Dispatcher) Heartbeat(ctx context.Context, runner string, key shipgate.AttemptKey) (shipgate.HeartbeatReply, error) {
	var reply shipgate.HeartbeatReply
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if shipgate.ErrorCode(err) == shipgate.ECONFLICT {
			reply = shipgate.HeartbeatReply{Cancel: true, Reason: shipgate.ErrorMessage(err)}
			return nil
		} else if err != nil {
			return err
		}
		if j.State != shipgate.JobRunning {
			reply = shipgate.HeartbeatReply{Cancel: true, Reason: fmt.Sprintf("job is %s: %s", j.State, j.Reason)}
			return nil
		}
		lease := tx.Now().Add(d.LeaseTTL)
		j.LeaseUntil = &lease
		reply.LeaseUntil = lease
		return tx.UpdateJob(ctx, &j)
	})
	return reply, err
}

// AppendLogs stores log chunks of an attempt the runner holds or held.
func (d *Dispatcher) AppendLogs(ctx context.Context, runner string, key shipgate.AttemptKey, chunks []shipgate.LogChunk) error {
	for _, c := range chunks {
		if len(c.Data) > MaxLogChunk {
			return shipgate.Errorf(shipgate.ETOOLARGE, "log chunk %d is %d bytes; the limit is %d", c.Seq, len(c.Data), MaxLogChunk)
		}
	}
	return d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		return tx.AppendLogs(ctx, j.ID, key.Attempt, chunks, d.MaxJobLogBytes)
	})
}

// Finish records the outcome of an attempt. A failed attempt with attempts
// left is queued again. Reporting the same outcome twice is harmless.
func (d *Dispatcher) Finish(ctx context.Context, runner string, key shipgate.AttemptKey, out shipgate.JobOutcome) error {
	ended := false
	reconcileRelease := func(tx *sqlstore.Tx) error {
		if _, _, err := Release(ctx, tx, key.ReleaseID); err != nil {
			return err
		}
		r, err := tx.FindRelease(ctx, key.ReleaseID)
		ended = err == nil && r.State.Final()
		return err
	}
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		now := tx.Now()
		details := map[string]any{"job": j.Name, "run": j.Run, "attempt": j.Attempt, "runner": runner, "reason": out.Reason}
		if out.ExitCode != nil {
			details["exit_code"] = *out.ExitCode
		}
		if j.StartedAt != nil {
			details["duration_ms"] = now.Sub(*j.StartedAt).Milliseconds()
		}
		switch {
		case j.State == shipgate.JobCancelled:
			if j.ExitCode != nil {
				return nil // already reported
			}
			code := -1 // stopped by a signal; -1 also marks the report as received
			if out.ExitCode != nil {
				code = *out.ExitCode
			}
			j.ExitCode = &code
			details["state"] = shipgate.JobCancelled
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
			return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobFinished, fmt.Sprintf("release/%d", key.ReleaseID), details))
		case j.State == shipgate.JobQueued && out.Succeeded && !out.NotStarted:
			// The lease ran out (or the attempt was handed back) before this
			// report arrived, but the attempt did succeed: take the result
			// rather than run the job again.
			details["late"] = true
			j.State, j.Reason = shipgate.JobSucceeded, ""
		case j.State == shipgate.JobFailed && strings.HasPrefix(j.Reason, "lease expired") && !out.NotStarted:
			return shipgate.Errorf(shipgate.ECONFLICT, "the outcome of attempt %d arrived after its lease expired; the job was already failed as lost (%s)", j.Attempt, j.Reason)
		case j.State != shipgate.JobRunning:
			return nil // a repeated report, or a failure whose retry is already queued
		case out.NotStarted && !out.Succeeded:
			// Nothing ran: queue it again without using up a retry, unless it
			// keeps coming back (a runner that cannot start anything).
			r, err := tx.FindRelease(ctx, key.ReleaseID)
			if err != nil {
				return err
			}
			base := j.MaxAttempts
			if spec, ok := r.Pipeline.Job(j.Name); ok {
				base = spec.MaxAttempts()
			}
			if j.MaxAttempts-base >= maxHandBacks {
				j.State, j.Reason = shipgate.JobFailed, fmt.Sprintf("handed back unstarted %d times; last: %s", maxHandBacks+1, out.Reason)
				break
			}
			j.MaxAttempts++
			j.State, j.Reason, j.QueuedAt, j.LeaseUntil = shipgate.JobQueued, fmt.Sprintf("attempt %d was never started: %s", j.Attempt, out.Reason), &now, nil
			details["state"], details["not_started"] = "requeued", true
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
			if err := tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobRetry, fmt.Sprintf("release/%d", key.ReleaseID), details)); err != nil {
				return err
			}
			return reconcileRelease(tx)
		case out.Succeeded:
			j.State, j.Reason = shipgate.JobSucceeded, ""
		case j.Attempt < j.MaxAttempts:
			j.State, j.Reason, j.QueuedAt = shipgate.JobQueued, fmt.Sprintf("attempt %d failed: %s; retrying", j.Attempt, out.Reason), &now
			details["state"] = "retrying"
			j.ExitCode, j.LeaseUntil = out.ExitCode, nil
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
			if err := tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobRetry, fmt.Sprintf("release/%d", key.ReleaseID), details)); err != nil {
				return err
			}
			return reconcileRelease(tx)
		default:
			j.State, j.Reason = shipgate.JobFailed, out.Reason
		}
		details["state"] = j.State
		if j.State == shipgate.JobFailed {
			if err := attachProbes(ctx, tx, j, details); err != nil {
				return err
			}
		}
		j.ExitCode, j.LeaseUntil, j.FinishedAt = out.ExitCode, nil, &now
		if err := tx.UpdateJob(ctx, &j); err != nil {
			return err
		}
		if err := tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobFinished, fmt.Sprintf("release/%d", key.ReleaseID), details)); err != nil {
			return err
		}
		return reconcileRelease(tx)
	})
	if err == nil {
		d.Work.Notify()
		// This release was reconciled in the transaction; a release that
		// ended may let the next one of its environment start.
		if ended && d.Reconciler != nil {
			d.Reconciler.Kick()
		}
	}
	return err
}

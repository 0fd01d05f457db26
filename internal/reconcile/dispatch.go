package reconcile

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/decide"
	evd "github.com/shipgate/shipgate/internal/evidence"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// MaxLogChunk is the largest log chunk accepted, in bytes.
const MaxLogChunk = 64 << 10

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
	// Signatures verifies Sigstore bundles steps attach as signature
	// evidence; nil refuses them (see AttachEvidence).
	Signatures *evd.SignatureVerifier

	// TraceParent, if set (tracing is on), names the W3C traceparent of
	// an attempt's span; it goes to the runner with the assignment.
	TraceParent func(shipgate.AttemptKey) string

	checked artifactChecks // see CheckArtifact

	waiters  waitQueue
	passes   atomic.Int64 // dispatch passes committed (Passes)
	finishes finishQueue
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
	found, err := d.candidate(ctx, req)
	if err != nil {
		return nil, err
	}
	if !found && req.Wait <= 0 {
		return nil, nil
	}
	// A claim that may find work is answered by the next pass, with every
	// other claim that came meanwhile, in one transaction; one that finds
	// none waits for work to appear.
	w := d.waiters.add(req, !found || req.Wait > 0, d.dispatchLoop)
	if found {
		d.Work.Notify()
	}
	var timeout <-chan time.Time
	if req.Wait > 0 {
		t := time.NewTimer(req.Wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case a := <-w.result:
		return a, w.passErr
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout:
	}
	if d.waiters.leave(w) {
		return nil, err
	}
	// A pass is answering, or has answered, this claim; its answer must not
	// be dropped, or the job would sit leased to a runner that never heard.
	a := <-w.result
	if err == nil {
		err = w.passErr
	}
	return a, err
}

// Waiting counts the claims waiting for work, for monitoring and for tests
// that need a claim to be waiting before they queue work.
func (d *Dispatcher) Waiting() int { return d.waiters.len() }

// Passes counts the dispatch passes committed so far, for monitoring and
// tests.
func (d *Dispatcher) Passes() int64 { return d.passes.Load() }

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
// It reads the queue only as far as the claims need.
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
		failed = false
		queue := &queueReader{tx: tx}
		var taken []bool
		head := 0
		rels, homes := releaseCache{}, homeCache{}
		// Claims wait up to a minute: an agent drained or cut off since its
		// claim arrived must not be handed work (or secrets) now.
		blocked, err := tx.BlockedAgents(ctx)
		if err != nil {
			return err
		}
		// Claims of this pass by claim id: a claim repeated under the same
		// id while the first still waits (a retry after a proxy's 502) gets
		// what the first gets in this pass, not a job of its own.
		byID := map[[2]string]*shipgate.Assignment{}
		for i, w := range batch {
			if d.waiters.isGone(w) || blocked[w.req.Runner.Name] {
				continue // its claim gave up, or its agent may no longer work
			}
			id := [2]string{w.req.Runner.Name, w.req.ClaimID}
			if a := byID[id]; a != nil && w.req.ClaimID != "" {
				got[i] = a
				continue
			}
			if w.req.ClaimID != "" && !w.claimChecked {
				// A claim repeated with the same id gets what the first got;
				// looked up in this transaction, so an assignment committed
				// since the claim arrived is found.
				j, ok, err := tx.FindClaim(ctx, w.req.Runner.Name, w.req.ClaimID)
				if err != nil {
					return err
				}
				if ok {
					if got[i], err = d.assignment(ctx, tx, j, rels); err != nil {
						return err
					}
					continue
				}
			}
			for head < len(taken) && taken[head] {
				head++ // skip what earlier claims of this pass took
			}
			for k := head; ; k++ {
				q, ok, err := queue.at(ctx, k)
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				if k >= len(taken) {
					taken = append(taken, make([]bool, k+1-len(taken))...)
				}
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
					byID[id] = a
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		clear(got) // nothing was handed out; the claims wait for the next pass
		if d.Reconciler != nil && d.Reconciler.Logger != nil {
			d.Reconciler.Logger.Warn("dispatch pass failed", "claims", len(batch), "err", err)
		}
	} else {
		d.waiters.checked(batch)
		d.passes.Add(1)
	}
	d.waiters.settle(batch, got, err)
	if failed && err == nil {
		d.Work.Notify()
		if d.Reconciler != nil {
			d.Reconciler.Kick()
		}
	}
}

// queueReader pages through the queue of jobs on demand within one
// transaction, a small page first: most passes need only its head.
type queueReader struct {
	tx     *sqlstore.Tx
	jobs   []sqlstore.QueuedJob
	cursor sqlstore.QueueCursor
	done   bool
}

// at returns the k-th queued job, oldest first; ok is false past the end.
func (q *queueReader) at(ctx context.Context, k int) (sqlstore.QueuedJob, bool, error) {
	for k >= len(q.jobs) && !q.done {
		size := min(max(32, 2*len(q.jobs)), 500)
		page, err := q.tx.ListQueuedJobs(ctx, q.cursor, size)
		if err != nil {
			return sqlstore.QueuedJob{}, false, err
		}
		q.jobs = append(q.jobs, page...)
		if len(page) < size {
			q.done = true
		}
		if len(page) > 0 {
			q.cursor = page[len(page)-1].Cursor
		}
	}
	if k >= len(q.jobs) {
		return sqlstore.QueuedJob{}, false, nil
	}
	return q.jobs[k], true, nil
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
		// Jobs no runner can take must not hide the ones this runner can.
		queue := &queueReader{tx: tx}
		for k := 0; ; k++ {
			q, ok, err := queue.at(ctx, k)
			if err != nil || !ok {
				return err
			}
			if eligible(req.Runner, q) {
				found = true
				return nil
			}
		}
	})
	return found, err
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
	if _, err := d.openSecrets(ctx, tx, r.ID); err != nil {
		plan, err := decide.Decide(decide.Observed{Release: r}, decide.Refuse{Job: j, Reason: err.Error()}, tx.Now())
		if err != nil {
			return nil, false, err
		}
		if err := Apply(ctx, tx, &plan); err != nil {
			return nil, false, err
		}
		_, _, err = Release(ctx, tx, r.ID)
		delete(rels, r.ID) // reconciling changed it
		return nil, true, err
	}
	plan, err := decide.Decide(decide.Observed{Release: r}, decide.Claim{Job: j, Runner: req.Runner.Name, ClaimID: req.ClaimID, LeaseUntil: tx.Now().Add(d.LeaseTTL)}, tx.Now())
	if err != nil || plan.Empty() {
		return nil, false, err
	}
	if err := Apply(ctx, tx, &plan); err != nil {
		return nil, false, err
	}
	j = plan.Jobs[0]
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
	if d.TraceParent != nil {
		a.TraceParent = d.TraceParent(a.Key)
	}
	return a, nil
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

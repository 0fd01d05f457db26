package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// A success ends the attempt (exit code kept, lease dropped), queues what
// needed it and, for the last job, ends the release; repeating it, or
// reporting something else for it afterwards, changes nothing and records
// nothing; a runner that does not hold the attempt is refused.
func testFinishSuccess(t *testing.T, f *dispFixture) {
	f.apply(dispService)
	r := f.release("staging", "1")
	seq := f.mark(r.ID)
	a := f.claim(runner("r"))
	f.clock.Add(5 * time.Second)
	zero := 0
	if err := f.d.Finish(ctx, "other", a.Key, shipgate.JobOutcome{Succeeded: true}); code(err) != shipgate.ECONFLICT {
		t.Fatalf("finish by a runner not holding the attempt: %v", err)
	}
	work := f.d.Work.C()
	f.finish("r", a.Key, shipgate.JobOutcome{Succeeded: true, ExitCode: &zero, Reason: "done"})
	if !notified(work) {
		t.Fatal("a finished job did not wake waiting claims")
	}
	j := f.job(r.ID, "deploy")
	if j.State != shipgate.JobSucceeded || j.Cause != "" || j.Reason != "" || j.ExitCode == nil || *j.ExitCode != 0 || j.LeaseUntil != nil ||
		!timeIs(j.FinishedAt, f.clock.Now()) || j.Attempt != 1 || j.Runner != "r" {
		t.Fatalf("deploy after success: %+v", j)
	}
	if v := f.job(r.ID, "verify"); v.State != shipgate.JobQueued {
		t.Fatalf("verify is %s after deploy succeeded", v.State)
	}
	es := f.expect(r.ID, &seq, "system:job.started system:job.finished")
	hasDetails(t, es[1], map[string]any{"job": "deploy", "run": 1, "attempt": 1, "runner": "r", "state": shipgate.JobSucceeded, "exit_code": 0, "duration_ms": 5000, "reason": "done"})
	// Repeats and contradictions of a recorded outcome are harmless.
	f.finish("r", a.Key, ok0)
	f.finish("r", a.Key, failed("late contradiction", 3))
	f.expect(r.ID, &seq, "")
	if again := f.job(r.ID, "deploy"); again.State != shipgate.JobSucceeded || *again.ExitCode != 0 {
		t.Fatalf("deploy after repeated reports: %+v", again)
	}
	a = f.claim(runner("r"))
	f.finish("r", a.Key, ok0)
	f.expect(r.ID, &seq, "system:job.started system:job.finished system:release.succeeded")
	if got := f.find(r.ID); got.State != shipgate.StateSucceeded || !timeIs(got.FinishedAt, f.clock.Now()) {
		t.Fatalf("release %s", got.State)
	}
	f.finish("r", a.Key, ok0)
	f.expect(r.ID, &seq, "")
}

// A failed attempt with attempts left is queued again (cause step_failed,
// job.retry) and the next claim is attempt 2; the last attempt's failure
// fails the job, skips what needs it and fails the release. Without a
// rollback policy there is no rollback, and a check's probes then hear
// stop.
func testFinishRetry(t *testing.T, f *dispFixture) {
	f.apply(dispService) // deploy: retries 1
	r := f.release("staging", "1")
	seq := f.mark(r.ID)
	a := f.claim(runner("a"))
	f.clock.Add(time.Second)
	f.finish("a", a.Key, failed("boom", 2))
	j := f.job(r.ID, "deploy")
	if j.State != shipgate.JobQueued || j.Cause != shipgate.JobCauseStepFailed || j.Reason != "attempt 1 failed: boom; retrying" || j.Attempt != 1 ||
		j.MaxAttempts != 2 || j.ExitCode == nil || *j.ExitCode != 2 || j.LeaseUntil != nil || !timeIs(j.QueuedAt, f.clock.Now()) || j.FinishedAt != nil {
		t.Fatalf("deploy after a failure with a retry left: %+v", j)
	}
	if got := f.find(r.ID); got.State != shipgate.StateRunning {
		t.Fatalf("release %s", got.State)
	}
	es := f.expect(r.ID, &seq, "system:job.started system:job.retry")
	hasDetails(t, es[1], map[string]any{"job": "deploy", "attempt": 1, "runner": "a", "state": "retrying", "exit_code": 2, "reason": "boom", "duration_ms": 1000})
	f.finish("a", a.Key, failed("boom", 2)) // repeated
	f.expect(r.ID, &seq, "")
	// The old holder is told to stop; the retry is someone's next claim.
	if hb, err := f.d.Heartbeat(ctx, "a", a.Key); err != nil || !hb.Cancel || hb.Reason != "job is queued: attempt 1 failed: boom; retrying" {
		t.Fatalf("heartbeat of the failed attempt: %+v %v", hb, err)
	}
	b := f.claim(runner("b"))
	if b.Key != (shipgate.AttemptKey{ReleaseID: r.ID, Run: 1, Job: "deploy", Attempt: 2}) {
		t.Fatalf("retry claim %+v", b.Key)
	}
	es = f.expect(r.ID, &seq, "system:job.started")
	hasDetails(t, es[0], map[string]any{"attempt": 2, "runner": "b"})
	f.finish("b", b.Key, failed("boom again", 1))
	j = f.job(r.ID, "deploy")
	if j.State != shipgate.JobFailed || j.Cause != shipgate.JobCauseStepFailed || j.Reason != "boom again" || j.Attempt != 2 || *j.ExitCode != 1 || !timeIs(j.FinishedAt, f.clock.Now()) {
		t.Fatalf("deploy after its last attempt failed: %+v", j)
	}
	if v := f.job(r.ID, "verify"); v.State != shipgate.JobSkipped || v.Cause != shipgate.JobCauseSkipped || v.Reason != "needs deploy, which failed" {
		t.Fatalf("verify: %+v", v)
	}
	got := f.find(r.ID)
	if got.State != shipgate.StateFailed || got.Reason != "job deploy failed: boom again" {
		t.Fatalf("release %s %q", got.State, got.Reason)
	}
	es = f.expect(r.ID, &seq, "system:job.finished system:release.failed")
	hasDetails(t, es[0], map[string]any{"state": shipgate.JobFailed, "attempt": 2, "runner": "b", "exit_code": 1, "reason": "boom again"})
	hasDetails(t, es[1], map[string]any{"run": 1, "failed_job": "deploy", "reason": "job deploy failed: boom again"})
	if err := f.db.View(ctx, func(tx *sqlstore.Tx) error { _, err := tx.FindRollback(ctx, r.ID); return err }); code(err) != shipgate.ENOTFOUND {
		t.Fatalf("a release without a rollback policy has a rollback: %v", err)
	}
	if reply, err := f.d.Probes(ctx, "b", b.Key, nil, true); err != nil || !reply.Stop {
		t.Fatalf("probes with no rollback: %+v %v", reply, err)
	}
	f.expect(r.ID, &seq, "")
}

// rollbackService rolls production back to the last successful release
// when its health check fails, after a delay.
const rollbackService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: production
      rollback: {enabled: true, check_target: health, delay_seconds: 60, mode: last_successful}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
      - name: health
        needs: [deploy]
        check: {http: {url: "http://127.0.0.1:1/"}, fail_after: 2}
`

// rollbackPending runs v1 to success, then fails v2's health check; it
// returns v2 and the failed check's key.
func rollbackPending(t *testing.T, f *dispFixture) (v1, v2 *shipgate.Release, check shipgate.AttemptKey, seq int64) {
	t.Helper()
	f.apply(rollbackService)
	v1 = f.release("production", "1")
	for range 2 {
		a := f.claim(runner("r"))
		f.finish("r", a.Key, ok0)
	}
	if got := f.find(v1.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("v1 %s", got.State)
	}
	v2 = f.release("production", "2")
	f.finish("r", f.claim(runner("r")).Key, ok0)
	seq = f.mark(v2.ID)
	a := f.claim(runner("r"))
	if a.Key.Job != "health" || a.Watch != shipgate.Duration(time.Minute) {
		t.Fatalf("check assignment %+v (watch %v)", a.Key, a.Watch)
	}
	probes := []shipgate.ProbeResult{
		{Seq: 1, At: f.clock.Now(), OK: false, LatencyMS: 3, Reason: "connection refused"},
		{Seq: 2, At: f.clock.Now(), OK: false, LatencyMS: 4, Reason: "connection refused"},
	}
	if reply, err := f.d.Probes(ctx, "r", a.Key, probes, false); err != nil || reply.Stop {
		t.Fatalf("probes of a running check: %+v %v", reply, err)
	}
	f.finish("r", a.Key, shipgate.JobOutcome{Reason: "health check failed 2 times"})
	return v1, v2, a.Key, seq
}

// The last failure of a check the policy watches fails the release and
// starts its rollback, pending for the delay, in the same transaction; the
// job.finished event carries the check's probes.
func testFinishRollbackPolicy(t *testing.T, f *dispFixture) {
	v1, v2, _, seq := rollbackPending(t, f)
	if got := f.find(v2.ID); got.State != shipgate.StateFailed || got.Reason != "job health failed: health check failed 2 times" {
		t.Fatalf("v2 %s %q", got.State, got.Reason)
	}
	es := f.expect(v2.ID, &seq, "system:job.started system:job.finished system:release.failed system:rollback.pending")
	m := hasDetails(t, es[1], map[string]any{"job": "health", "state": shipgate.JobFailed, "reason": "health check failed 2 times"})
	probes, _ := m["probes"].([]any)
	if len(probes) != 2 || !strings.Contains(string(es[1].Details), `"reason":"connection refused"`) {
		t.Fatalf("job.finished of a failed check without its probes: %s", es[1].Details)
	}
	hasDetails(t, es[3], map[string]any{"target_release": v1.ID, "target_version": "1", "delay_seconds": 60})
	var rb *shipgate.Rollback
	f.view(func(tx *sqlstore.Tx) error {
		var err error
		rb, err = tx.FindRollback(ctx, v2.ID)
		return err
	})
	if rb.State != shipgate.RollbackPending || rb.TargetID != v1.ID || rb.TriggeredBy != shipgate.TriggeredByPolicy || !timeIs(rb.FiresAt, f.clock.Now().Add(time.Minute)) {
		t.Fatalf("rollback %+v", rb)
	}
}

// A hand-back of an attempt nobody started queues the job again without
// using up a retry: the job still has its retry after it.
func testFinishHandBack(t *testing.T, f *dispFixture) {
	f.apply(dispService) // deploy: retries 1, so 2 attempts
	r := f.release("staging", "1")
	seq := f.mark(r.ID)
	a := f.claim(runner("a"))
	f.finish("a", a.Key, shipgate.JobOutcome{NotStarted: true, Reason: "disk full"})
	j := f.job(r.ID, "deploy")
	if j.State != shipgate.JobQueued || j.Cause != shipgate.JobCauseNotStarted || j.Reason != "attempt 1 was never started: disk full" ||
		j.Attempt != 1 || j.MaxAttempts != 3 || j.LeaseUntil != nil || !timeIs(j.QueuedAt, f.clock.Now()) {
		t.Fatalf("deploy after a hand-back: %+v", j)
	}
	es := f.expect(r.ID, &seq, "system:job.started system:job.retry")
	hasDetails(t, es[1], map[string]any{"attempt": 1, "runner": "a", "state": "requeued", "not_started": true, "reason": "disk full"})
	f.finish("a", a.Key, shipgate.JobOutcome{NotStarted: true, Reason: "disk full"}) // repeated
	f.expect(r.ID, &seq, "")
	b := f.claim(runner("b"))
	f.finish("b", b.Key, failed("boom", 1))
	if j := f.job(r.ID, "deploy"); j.State != shipgate.JobQueued || j.Cause != shipgate.JobCauseStepFailed || j.Attempt != 2 {
		t.Fatalf("the failure after a hand-back used the job's last attempt: %+v", j)
	}
	c := f.claim(runner("c"))
	f.finish("c", c.Key, failed("boom", 1))
	if j := f.job(r.ID, "deploy"); j.State != shipgate.JobFailed || j.Attempt != 3 {
		t.Fatalf("deploy %+v", j)
	}
	f.expect(r.ID, &seq, "system:job.started system:job.retry system:job.started system:job.finished system:release.failed")
}

// A job handed back unstarted again and again fails after the fifth
// hand-back's retry, on the sixth, with cause not_started.
func testFinishHandBackLimit(t *testing.T, f *dispFixture) {
	f.apply(oneJobService)
	r := f.release("staging", "1")
	seq := f.mark(r.ID)
	var want []string
	for i := 1; i <= 6; i++ {
		a := f.claim(runner("full"))
		if a.Key.Attempt != i {
			t.Fatalf("claim %d is attempt %d", i, a.Key.Attempt)
		}
		f.finish("full", a.Key, shipgate.JobOutcome{NotStarted: true, Reason: "disk full"})
		want = append(want, "system:job.started", "system:job.retry")
	}
	want[len(want)-1] = "system:job.finished system:release.failed"
	j := f.job(r.ID, "deploy")
	if j.State != shipgate.JobFailed || j.Cause != shipgate.JobCauseNotStarted || j.Reason != "handed back unstarted 6 times; last: disk full" || j.Attempt != 6 || j.MaxAttempts != 6 {
		t.Fatalf("deploy after six hand-backs: %+v", j)
	}
	if got := f.find(r.ID); got.State != shipgate.StateFailed || got.Reason != "job deploy failed: "+j.Reason {
		t.Fatalf("release %s %q", got.State, got.Reason)
	}
	es := f.expect(r.ID, &seq, strings.Join(want, " "))
	hasDetails(t, es[len(es)-2], map[string]any{"state": shipgate.JobFailed, "attempt": 6})
	f.noClaim(runner("full"))
}

// The outcome of an attempt whose lease ran out arrives late: a success is
// taken (the job does not run again), a failure leaves the queued retry as
// it is.
func testFinishLateSuccess(t *testing.T, f *dispFixture) {
	f.apply(dispService)
	r := f.release("staging", "1")
	a := f.claim(runner("slow"))
	seq := f.mark(r.ID)
	f.clock.Add(leaseTTL + time.Second)
	f.plan()
	if j := f.job(r.ID, "deploy"); j.State != shipgate.JobQueued || j.Cause != shipgate.JobCauseLost {
		t.Fatalf("deploy after its lease ran out: %+v", j)
	}
	f.expect(r.ID, &seq, "system:job.retry")
	if hb, err := f.d.Heartbeat(ctx, "slow", a.Key); err != nil || !hb.Cancel || hb.Reason != "job is queued: lease expired on agent slow; retrying" {
		t.Fatalf("heartbeat of the lost attempt: %+v %v", hb, err)
	}
	f.finish("slow", a.Key, failed("late failure", 1))
	f.expect(r.ID, &seq, "")
	if j := f.job(r.ID, "deploy"); j.State != shipgate.JobQueued || j.Cause != shipgate.JobCauseLost || j.ExitCode != nil {
		t.Fatalf("a late failure changed the queued retry: %+v", j)
	}
	zero := 0
	f.finish("slow", a.Key, shipgate.JobOutcome{Succeeded: true, ExitCode: &zero})
	j := f.job(r.ID, "deploy")
	if j.State != shipgate.JobSucceeded || j.Cause != "" || j.Reason != "" || j.Attempt != 1 || *j.ExitCode != 0 || !timeIs(j.FinishedAt, f.clock.Now()) {
		t.Fatalf("deploy after a late success: %+v", j)
	}
	es := f.expect(r.ID, &seq, "system:job.finished")
	hasDetails(t, es[0], map[string]any{"state": shipgate.JobSucceeded, "late": true, "attempt": 1, "runner": "slow"})
	f.finish("slow", a.Key, ok0)
	f.expect(r.ID, &seq, "")
	if a := f.claim(runner("next")); a.Key.Job != "verify" {
		t.Fatalf("next claim %+v, want verify", a.Key)
	}
}

// The outcome of an attempt that arrives after its job was failed as lost
// is refused with a conflict, and changes nothing.
func testFinishAfterLost(t *testing.T, f *dispFixture) {
	f.apply(oneJobService)
	r := f.release("staging", "1")
	a := f.claim(runner("gone"))
	seq := f.mark(r.ID)
	f.clock.Add(leaseTTL)
	f.plan()
	lost := f.job(r.ID, "deploy")
	if lost.State != shipgate.JobFailed || lost.Cause != shipgate.JobCauseLost || lost.Reason != "lease expired on agent gone" {
		t.Fatalf("deploy after its last lease ran out: %+v", lost)
	}
	f.expect(r.ID, &seq, "system:job.finished system:release.failed")
	for _, out := range []shipgate.JobOutcome{ok0, failed("late", 1)} {
		if err := f.d.Finish(ctx, "gone", a.Key, out); code(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "already failed as lost") {
			t.Fatalf("late outcome %+v: %v", out, err)
		}
	}
	f.finish("gone", a.Key, shipgate.JobOutcome{NotStarted: true, Reason: "never mind"})
	f.expect(r.ID, &seq, "")
	if j := f.job(r.ID, "deploy"); j.State != lost.State || j.Cause != lost.Cause || j.Reason != lost.Reason || j.ExitCode != nil {
		t.Fatalf("late outcomes changed the lost job: %+v", j)
	}
	if got := f.find(r.ID); got.State != shipgate.StateFailed || got.Reason != "job deploy failed: lease expired on agent gone" {
		t.Fatalf("release %s %q", got.State, got.Reason)
	}
}

// A runner stopping a cancelled job reports it; its exit code (-1 without
// one: a signal) is recorded once, with one job.finished, and the job
// stays cancelled whatever the report says.
func testFinishCancelled(t *testing.T, f *dispFixture) {
	f.apply(oneJobService)
	for _, c := range []struct {
		out  shipgate.JobOutcome
		want int
	}{
		{failed("stopped", 143), 143},
		{shipgate.JobOutcome{Succeeded: true, Reason: "finished anyway"}, -1},
	} {
		c.out.Cancelled = true
		r := f.release("staging", "c"+c.out.Reason[:3])
		a := f.claim(runner("r"))
		seq := f.mark(r.ID)
		testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
			_, err := reconcile.CancelRelease(ctx, tx, "carol", r.ID, "wrong build")
			return err
		})
		f.expect(r.ID, &seq, "carol:release.cancelled")
		if hb, err := f.d.Heartbeat(ctx, "r", a.Key); err != nil || !hb.Cancel || hb.Reason != "job is cancelled: release cancelled by carol: wrong build" {
			t.Fatalf("heartbeat of a cancelled job: %+v %v", hb, err)
		}
		f.finish("r", a.Key, c.out)
		es := f.expect(r.ID, &seq, "system:job.finished")
		m := hasDetails(t, es[0], map[string]any{"state": shipgate.JobCancelled, "attempt": 1, "runner": "r"})
		if _, has := m["exit_code"]; has != (c.out.ExitCode != nil) {
			t.Fatalf("job.finished details %s", es[0].Details)
		}
		other := 0
		f.finish("r", a.Key, shipgate.JobOutcome{Cancelled: true, ExitCode: &other})
		f.expect(r.ID, &seq, "")
		j := f.job(r.ID, "deploy")
		if j.State != shipgate.JobCancelled || j.Cause != shipgate.JobCauseCancelled || j.ExitCode == nil || *j.ExitCode != c.want {
			t.Fatalf("cancelled job after its reports: %+v (exit %v)", j, j.ExitCode)
		}
		if got := f.find(r.ID); got.State != shipgate.StateCancelled || got.Reason != "cancelled by carol: wrong build" {
			t.Fatalf("release %s %q", got.State, got.Reason)
		}
	}
}

// The reconciler's planner takes a job whose lease ran out away from its
// runner: queued again with cause lost while attempts are left, failed as
// lost (and the release with it) when not. Until then it wakes at the
// lease's end, and a heartbeat pushes that back.
func testDispatchLeaseExpiry(t *testing.T, f *dispFixture) {
	f.apply(dispService) // deploy: 2 attempts
	r := f.release("staging", "1")
	start := f.clock.Now()
	a := f.claim(runner("agent-x"))
	seq := f.mark(r.ID)
	f.clock.Add(leaseTTL - time.Second)
	if wake := f.plan(); !wake.Equal(start.Add(leaseTTL)) {
		t.Fatalf("wake %s, want the lease's end %s", wake, start.Add(leaseTTL))
	}
	hb, err := f.d.Heartbeat(ctx, "agent-x", a.Key)
	if err != nil || hb.Cancel || !hb.LeaseUntil.Equal(f.clock.Now().Add(leaseTTL)) {
		t.Fatalf("heartbeat %+v %v", hb, err)
	}
	f.clock.Add(leaseTTL - time.Second)
	if wake := f.plan(); !wake.Equal(hb.LeaseUntil) {
		t.Fatalf("wake %s, want the extended lease's end %s", wake, hb.LeaseUntil)
	}
	f.expect(r.ID, &seq, "")
	f.clock.Add(time.Second)
	f.plan()
	j := f.job(r.ID, "deploy")
	if j.State != shipgate.JobQueued || j.Cause != shipgate.JobCauseLost || j.Reason != "lease expired on agent agent-x; retrying" || j.LeaseUntil != nil || !timeIs(j.QueuedAt, f.clock.Now()) || j.Attempt != 1 {
		t.Fatalf("deploy after its lease ran out: %+v", j)
	}
	es := f.expect(r.ID, &seq, "system:job.retry")
	hasDetails(t, es[0], map[string]any{"job": "deploy", "attempt": 1, "runner": "agent-x", "reason": "lease expired on agent agent-x"})
	f.plan() // again: nothing more happens
	f.expect(r.ID, &seq, "")
	b := f.claim(runner("agent-y"))
	if b.Key.Attempt != 2 {
		t.Fatalf("retry claim %+v", b.Key)
	}
	// The old holder no longer holds anything.
	if hb, err := f.d.Heartbeat(ctx, "agent-x", a.Key); err != nil || !hb.Cancel || !strings.Contains(hb.Reason, "is not held by runner agent-x") {
		t.Fatalf("heartbeat of the lost attempt: %+v %v", hb, err)
	}
	if err := f.d.Finish(ctx, "agent-x", a.Key, ok0); code(err) != shipgate.ECONFLICT {
		t.Fatalf("finish of the lost attempt after a retry started: %v", err)
	}
	f.clock.Add(leaseTTL)
	f.plan()
	j = f.job(r.ID, "deploy")
	if j.State != shipgate.JobFailed || j.Cause != shipgate.JobCauseLost || j.Reason != "lease expired on agent agent-y" || j.LeaseUntil != nil || !timeIs(j.FinishedAt, f.clock.Now()) {
		t.Fatalf("deploy after its last lease ran out: %+v", j)
	}
	if v := f.job(r.ID, "verify"); v.State != shipgate.JobSkipped || v.Cause != shipgate.JobCauseSkipped {
		t.Fatalf("verify %+v", v)
	}
	if got := f.find(r.ID); got.State != shipgate.StateFailed || got.Reason != "job deploy failed: lease expired on agent agent-y" {
		t.Fatalf("release %s %q", got.State, got.Reason)
	}
	es = f.expect(r.ID, &seq, "system:job.started system:job.finished system:release.failed")
	hasDetails(t, es[1], map[string]any{"state": shipgate.JobFailed, "attempt": 2, "runner": "agent-y", "reason": "lease expired on agent agent-y"})
}

// The first outcome recorded for an attempt stands: after its failure was
// recorded (and the retry queued), a contradicting success for the same
// attempt changes nothing, as a failure after a recorded success changes
// nothing (testFinishSuccess). Only an attempt whose outcome was never
// recorded — its lease ran out, or it was handed back — takes a late
// success (testFinishLateSuccess).
func testFinishFailureIsFinal(t *testing.T, f *dispFixture) {
	f.apply(dispService) // deploy: retries 1
	r := f.release("staging", "1")
	a := f.claim(runner("a"))
	f.finish("a", a.Key, failed("boom", 2))
	seq := f.mark(r.ID)
	f.finish("a", a.Key, ok0)
	f.expect(r.ID, &seq, "")
	if j := f.job(r.ID, "deploy"); j.State != shipgate.JobQueued || j.Cause != shipgate.JobCauseStepFailed || *j.ExitCode != 2 {
		t.Fatalf("a success after the attempt's recorded failure changed the job: %+v", j)
	}
}

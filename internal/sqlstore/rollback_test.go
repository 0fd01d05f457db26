package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const rollbackService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: staging
    - name: production
      rollback: {enabled: true, check_target: TARGET, delay_seconds: DELAY, mode: last_successful}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
      - name: health
        needs: [deploy]
        check: {http: {url: "http://127.0.0.1:1/"}, fail_after: 2}
`

func rollbackSvc(target string, delay int) string {
	return strings.NewReplacer("TARGET", target, "DELAY", fmt.Sprint(delay)).Replace(rollbackService)
}

// runTo drives the release's jobs through the dispatcher: the named jobs
// fail, the others succeed, until the release is final.
func runTo(t *testing.T, db *sqlstore.DB, id int64, failing ...string) *shipgate.Release {
	t.Helper()
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	for i := 0; i < 20 && !find(db, id).State.Final(); i++ {
		a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
		if err != nil || !ok {
			t.Fatalf("release %d %s: nothing to claim (%v)", id, find(db, id).State, err)
		}
		out := shipgate.JobOutcome{Succeeded: true}
		for _, f := range failing {
			if a.Key.Job == f {
				out = shipgate.JobOutcome{Reason: f + " broke"}
			}
		}
		if err := d.Finish(ctx, "r", a.Key, out); err != nil {
			t.Fatal(err)
		}
	}
	return find(db, id)
}

func rollbackOf(t *testing.T, db *sqlstore.DB, id int64) *shipgate.Rollback {
	t.Helper()
	var rb *shipgate.Rollback
	db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		if rb, err = tx.FindRollback(ctx, id); err != nil {
			t.Fatalf("release %d: %v", id, err)
		}
		return nil
	})
	return rb
}

func actionsOf(db *sqlstore.DB, id int64) string {
	var out []string
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: id})
		for _, e := range events {
			out = append(out, e.Actor+":"+e.Action)
		}
		return nil
	})
	return strings.Join(out, " ")
}

func testRollbackLastSuccessful(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("health", 0))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	if got := runTo(t, db, v1.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("v1 %s", got.State)
	}
	v2, _ := newRelease(db, "production", "2.0", "carol")
	got := runTo(t, db, v2.ID, "health")
	if got.State != shipgate.StateFailed {
		t.Fatalf("v2 %s %q", got.State, got.Reason)
	}
	rb := rollbackOf(t, db, v2.ID)
	if rb.State != shipgate.RollbackFired || rb.TargetID != v1.ID || rb.RollbackRelease == 0 || rb.TriggeredBy != shipgate.TriggeredByPolicy {
		t.Fatalf("rollback %+v", rb)
	}
	if want := fmt.Sprintf("rollback release %d restores version 1.0", rb.RollbackRelease); rb.Reason != want {
		t.Fatalf("fired rollback says %q, want %q", rb.Reason, want)
	}
	rr := find(db, rb.RollbackRelease)
	if rr.Kind != shipgate.ReleaseKindRollback || rr.RollbackOf != v2.ID || rr.RestoresRelease != v1.ID || rr.Version != "1.0" || rr.Artifact != v1.Artifact || rr.State != shipgate.StateRunning {
		t.Fatalf("rollback release %+v", rr)
	}
	if !strings.Contains(actionsOf(db, rr.ID), "system:release.created system:release.queued system:release.started") {
		t.Fatalf("rollback release events: %s", actionsOf(db, rr.ID))
	}
	if got := runTo(t, db, rr.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("rollback release %s", got.State)
	}
	if got := find(db, v2.ID); got.State != shipgate.StateRolledBack {
		t.Fatalf("v2 ended %s", got.State)
	}
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackDone {
		t.Fatalf("rollback %s", rb.State)
	}
	want := "carol:release.created system:release.queued system:release.started system:job.started system:job.finished system:job.started system:job.finished system:release.failed system:rollback.pending system:rollback.fired system:release.rolled_back"
	if got := actionsOf(db, v2.ID); got != want {
		t.Fatalf("v2 timeline:\n got %s\nwant %s", got, want)
	}
	// The next failure rolls back to the rollback release (it deployed 1.0
	// and succeeded), not to the rolled-back 2.0.
	v3, _ := newRelease(db, "production", "3.0", "carol")
	runTo(t, db, v3.ID, "health")
	if rb := rollbackOf(t, db, v3.ID); rb.TargetID != rr.ID || rb.TargetVersion != "1.0" {
		t.Fatalf("second rollback targets %d %s", rb.TargetID, rb.TargetVersion)
	}
	verify(t, db)
}

func testRollbackNothingToRollBackTo(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("pipeline", 0))
	r, _ := newRelease(db, "production", "1.0", "carol")
	if got := runTo(t, db, r.ID, "deploy"); got.State != shipgate.StateFailed {
		t.Fatalf("release %s", got.State)
	}
	rb := rollbackOf(t, db, r.ID)
	if rb.State != shipgate.RollbackUnavailable || rb.Reason != "nothing to roll back to: no earlier release of web succeeded in production" {
		t.Fatalf("rollback %+v", rb)
	}
	if !strings.HasSuffix(actionsOf(db, r.ID), "system:release.failed system:rollback.unavailable") {
		t.Fatalf("timeline %s", actionsOf(db, r.ID))
	}
}

func testRollbackCheckTargetOnly(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("health", 0))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	runTo(t, db, v2.ID, "deploy") // not the check target
	err := db.View(ctx, func(tx *sqlstore.Tx) error { _, err := tx.FindRollback(ctx, v2.ID); return err })
	if shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("a failure of another job started a rollback: %v", err)
	}
}

func testRollbackDelayHoldNowCallOff(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("health", 120))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	fail := func(version string) *shipgate.Release {
		r, _ := newRelease(db, "production", version, "carol")
		runTo(t, db, r.ID, "health")
		return r
	}
	// Pending for delay_seconds, then it fires.
	v2 := fail("2.0")
	rb := rollbackOf(t, db, v2.ID)
	if rb.State != shipgate.RollbackPending || !rb.FiresAt.Equal(clock.Now().Add(120*time.Second)) {
		t.Fatalf("pending: %+v", rb)
	}
	clock.Add(119 * time.Second)
	reconcileAll(t, db)
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackPending {
		t.Fatalf("fired early: %s", rb.State)
	}
	clock.Add(time.Second)
	reconcileAll(t, db)
	rb = rollbackOf(t, db, v2.ID)
	if rb.State != shipgate.RollbackFired {
		t.Fatalf("after the delay: %s", rb.State)
	}
	runTo(t, db, rb.RollbackRelease)

	// Held: it does not fire on its own; "now" fires it.
	v3 := fail("3.0")
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := reconcile.HoldRollback(ctx, tx, "dave", v3.ID, ""); return err })
	clock.Add(time.Hour)
	reconcileAll(t, db)
	if rb := rollbackOf(t, db, v3.ID); rb.State != shipgate.RollbackHeld {
		t.Fatalf("held rollback: %s", rb.State)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RollbackNow(ctx, tx, "dave", v3.ID, ""); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, v3.ID)
		return err
	})
	rb = rollbackOf(t, db, v3.ID)
	if rb.State != shipgate.RollbackFired || rb.TriggeredBy != shipgate.TriggeredByUser {
		t.Fatalf("rollback now: %+v", rb)
	}
	if rr := find(db, rb.RollbackRelease); rr.TriggeredBy != shipgate.TriggeredByUser {
		t.Fatalf("rollback release triggered by %q", rr.TriggeredBy)
	}
	runTo(t, db, rb.RollbackRelease)

	// The check recovers while the rollback waits: it is called off.
	v4 := fail("4.0")
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	key := shipgate.AttemptKey{ReleaseID: v4.ID, Run: 1, Job: "health", Attempt: 1}
	reply, err := d.Probes(ctx, "r", key, []shipgate.ProbeResult{{Seq: 9, At: clock.Now(), OK: true, Watch: true}}, false)
	if err != nil || reply.Stop {
		t.Fatalf("watch probe: %+v %v", reply, err)
	}
	if reply, err = d.Probes(ctx, "r", key, nil, true); err != nil || !reply.Stop {
		t.Fatalf("recovery: %+v %v", reply, err)
	}
	if rb := rollbackOf(t, db, v4.ID); rb.State != shipgate.RollbackCalledOff {
		t.Fatalf("after recovery: %s", rb.State)
	}
	clock.Add(time.Hour)
	reconcileAll(t, db)
	if got := find(db, v4.ID); got.State != shipgate.StateFailed {
		t.Fatalf("v4 %s", got.State)
	}
	if !strings.Contains(actionsOf(db, v4.ID), "system:rollback.pending system:rollback.called_off") {
		t.Fatalf("timeline %s", actionsOf(db, v4.ID))
	}
	verify(t, db)
}

func testRollbackVersionMode(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	pinned := strings.Replace(rollbackSvc("pipeline", 0), "mode: last_successful}", "mode: version, version: \"0.9\"}\n      approvals: {required: 1}", 1)
	// A version the service never released is refused at apply.
	spec := mustParse(t, pinned)
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, _, err := tx.ApplyService(ctx, "test", spec, "svc.yaml", pinned)
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `rollback version "0.9" of production: service "web" has never released that version`) {
		t.Fatalf("apply with an unknown rollback version: %v", err)
	}
	testutil.MustApply(t, db, rollbackSvc("pipeline", 0))
	stg, _ := newRelease(db, "staging", "0.9", "carol")
	runTo(t, db, stg.ID)
	testutil.MustApply(t, db, pinned)
	r, _ := newRelease(db, "production", "1.0", "carol")
	approver := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover})
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, _, err := reconcile.Decide(ctx, tx, approver, r.ID, shipgate.DecisionApprove, r.Digest, ""); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, r.ID)
		return err
	})
	runTo(t, db, r.ID, "deploy")
	// 0.9 succeeded in staging only: a rollback restores only what ran
	// here, so there is nothing to roll back to, said as such.
	rb := rollbackOf(t, db, r.ID)
	if rb.State != shipgate.RollbackUnavailable || rb.RollbackRelease != 0 || !strings.Contains(rb.Reason, "0.9 never succeeded in production; deploy it with `shipgate release create`") {
		t.Fatalf("rollback to a version never deployed here: %+v", rb)
	}
	// Once 0.9 succeeded in production, the policy restores it.
	p09, _ := newRelease(db, "production", "0.9", "carol")
	approve(t, db, p09.ID, "a1")
	runTo(t, db, p09.ID)
	r2, _ := newRelease(db, "production", "1.1", "carol")
	approve(t, db, r2.ID, "a2")
	runTo(t, db, r2.ID, "deploy")
	rb = rollbackOf(t, db, r2.ID)
	if rr := find(db, rb.RollbackRelease); rr.Version != "0.9" || rr.RestoresRelease != p09.ID || rr.State != shipgate.StateRunning {
		t.Fatalf("rollback to 0.9 after it succeeded here: %s restores %d, %s %q", rr.Version, rr.RestoresRelease, rr.State, rr.Reason)
	}
	verify(t, db)
}

func testRerunAndRollback(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("health", 120))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	runTo(t, db, v2.ID, "health")
	rerun := func() error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error { _, err := reconcile.RerunRelease(ctx, tx, "carol", v2.ID); return err })
	}
	if err := rerun(); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "is pending") {
		t.Fatalf("rerun with a pending rollback: %v", err)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := reconcile.HoldRollback(ctx, tx, "carol", v2.ID, ""); return err })
	if err := rerun(); err != nil {
		t.Fatalf("rerun after hold: %v", err)
	}
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackCalledOff || !strings.Contains(rb.Reason, "reran the release instead") {
		t.Fatalf("rollback after the rerun: %+v", rb)
	}
}

// approve approves release id as a fresh approver and reconciles it.
func approve(t *testing.T, db *sqlstore.DB, id int64, who string) {
	t.Helper()
	u := testutil.MustUser(t, db, who, []shipgate.Role{shipgate.RoleApprover})
	r := find(db, id)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, _, err := reconcile.Decide(ctx, tx, u, id, shipgate.DecisionApprove, r.Digest, ""); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, id)
		return err
	})
}

func withArtifact(db *sqlstore.DB, env, version, sha string) (*shipgate.Release, error) {
	var r *shipgate.Release
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		var err error
		a := testutil.Artifact(version)
		if sha != "" {
			a.SHA256 = sha
		}
		if r, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: env, Version: version, Artifact: a, CreatedBy: "carol"}); err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r.ID)
		return err
	})
	return r, err
}

func testRollbackApprovalRules(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	svc := strings.Replace(rollbackSvc("pipeline", 0), "      rollback:", "      approvals: {required: 1, expires_after: 1h}\n      rollback:", 1)
	testutil.MustApply(t, db, svc)
	v1, _ := newRelease(db, "production", "1.0", "carol")
	approve(t, db, v1.ID, "a1")
	runTo(t, db, v1.ID)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	approve(t, db, v2.ID, "a2")
	runTo(t, db, v2.ID, "deploy")
	// The policy's rollback restores a proven version: no approval, and no
	// approval to lapse under expires_after either — it runs unattended.
	rb := rollbackOf(t, db, v2.ID)
	rr := find(db, rb.RollbackRelease)
	if rr.State != shipgate.StateRunning || rr.ApprovalSkipped == "" {
		t.Fatalf("policy rollback release is %s %q", rr.State, rr.Reason)
	}
	runTo(t, db, rr.ID)
	if got := find(db, v2.ID); got.State != shipgate.StateRolledBack {
		t.Fatalf("v2 %s", got.State)
	}
	// Rolling back *to* 2.0 — which failed and was rolled back — is
	// refused: it never succeeded here, and nothing is created.
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CreateRollbackRelease(ctx, tx, sqlstore.NewRollback{Of: find(db, rr.ID), Target: find(db, v2.ID), TriggeredBy: shipgate.TriggeredByUser, Actor: "carol"})
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "2.0 never succeeded in production") {
		t.Fatalf("rollback to a failed version: %v", err)
	}
}

func testRollbackRespectsRequires(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	svc := strings.Replace(rollbackSvc("pipeline", 0), "    - name: production\n", "    - name: production\n      requires: [staging]\n", 1)
	testutil.MustApply(t, db, svc)
	stg, _ := withArtifact(db, "staging", "3.0", "")
	runTo(t, db, stg.ID, "deploy") // 3.0 failed in staging
	good, _ := withArtifact(db, "staging", "1.0", "")
	runTo(t, db, good.ID)
	prod, err := withArtifact(db, "production", "1.0", "")
	if err != nil {
		t.Fatal(err)
	}
	runTo(t, db, prod.ID)
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CreateRollbackRelease(ctx, tx, sqlstore.NewRollback{Of: prod, Target: find(db, stg.ID), TriggeredBy: shipgate.TriggeredByUser, Actor: "carol"})
		return err
	})
	// 3.0 never ran in production (and failed staging): not a rollback.
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "3.0 never succeeded in production") {
		t.Fatalf("rollback to a version from staging: %v", err)
	}
	// Nor is 1.0 of staging, though 1.0 succeeded in production as
	// another release: the target must be the release that ran here.
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CreateRollbackRelease(ctx, tx, sqlstore.NewRollback{Of: prod, Target: find(db, good.ID), TriggeredBy: shipgate.TriggeredByUser, Actor: "carol"})
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("rollback to staging's release of 1.0: %v", err)
	}
}

func testStaleRollbackDoesNotOverwrite(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("pipeline", 120))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	v3, _ := newRelease(db, "production", "3.0", "carol") // queued behind v2
	runTo(t, db, v2.ID, "deploy")
	reconcileAll(t, db)
	// v2's rollback is pending: v3 waits for it rather than deploying over
	// an environment about to be rolled back.
	if got := find(db, v3.ID); got.State != shipgate.StateQueued || !strings.Contains(got.Reason, "pending rollback of release") {
		t.Fatalf("v3 while v2's rollback is pending: %s %q", got.State, got.Reason)
	}
	// Holding the rollback lets v3 go ahead, and v3 supersedes it.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := reconcile.HoldRollback(ctx, tx, "carol", v2.ID, ""); return err })
	reconcileAll(t, db)
	if got := find(db, v3.ID); got.State != shipgate.StateRunning {
		t.Fatalf("v3 after the hold: %s %q", got.State, got.Reason)
	}
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackCalledOff || !strings.Contains(rb.Reason, fmt.Sprintf("superseded: release %d", v3.ID)) {
		t.Fatalf("v2's rollback after v3 started: %+v", rb)
	}
	runTo(t, db, v3.ID)
	if got := find(db, v3.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("v3 %s", got.State)
	}
}

// testRollbackLookupsAbsent: the release lookups behind rollbacks say
// not_found when there is no such release, never a nil release with a nil
// error; CurrentRelease turns that into the precondition a person reads.
func testRollbackLookupsAbsent(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("pipeline", 0))
	stg, _ := newRelease(db, "staging", "0.9", "carol")
	runTo(t, db, stg.ID)
	db.View(ctx, func(tx *sqlstore.Tx) error {
		if r, err := tx.AnyReleaseOfVersion(ctx, "web", "1.0"); r != nil || shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Fatalf("any release of a version never released = %+v, %v; want not_found", r, err)
		}
		if r, err := tx.AnyReleaseOfVersion(ctx, "web", "0.9"); err != nil || r.ID != stg.ID {
			t.Fatalf("any release of 0.9 = %+v, %v", r, err)
		}
		r, err := tx.SucceededVersion(ctx, "web", "production", "0.9")
		if r != nil || shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), "0.9 never succeeded in production") {
			t.Fatalf("succeeded version absent = %+v, %v; want not_found", r, err)
		}
		if r, err := tx.SucceededVersion(ctx, "web", "staging", "0.9"); err != nil || r.ID != stg.ID {
			t.Fatalf("succeeded version in staging = %+v, %v", r, err)
		}
		if r, err := tx.CurrentRelease(ctx, "web", "production"); r != nil || shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
			t.Fatalf("current release of an empty environment = %+v, %v; want failed_precondition", r, err)
		}
		// Nothing else succeeded in staging than the release itself.
		if r, err := tx.LastSuccessful(ctx, "web", "staging", stg); r != nil || shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), "no earlier release of web succeeded in staging") {
			t.Fatalf("last successful other than the only one = %+v, %v; want not_found", r, err)
		}
		return nil
	})
}

// A release whose rollback was held and called off by a rerun, and whose
// rerun fails too, gets its rollback again: the record its first run left
// moves from called_off to pending (a transition of the table), not from
// nothing.
func testRollbackAfterFailedRerun(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("health", 3600))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	if got := runTo(t, db, v1.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("v1 %s", got.State)
	}
	v2, _ := newRelease(db, "production", "2.0", "carol")
	if got := runTo(t, db, v2.ID, "health"); got.State != shipgate.StateFailed {
		t.Fatalf("v2 %s %q", got.State, got.Reason)
	}
	if err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.HoldRollback(ctx, tx, "dave", v2.ID, "looking"); err != nil {
			return err
		}
		if _, err := reconcile.RerunRelease(ctx, tx, "dave", v2.ID); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, v2.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackCalledOff {
		t.Fatalf("after the rerun: rollback %s", rb.State)
	}
	if got := runTo(t, db, v2.ID, "health"); got.State != shipgate.StateFailed || got.Run != 2 {
		t.Fatalf("rerun: %s run %d", got.State, got.Run)
	}
	rb := rollbackOf(t, db, v2.ID)
	if rb.State != shipgate.RollbackPending || rb.TargetID != v1.ID || rb.HeldBy != "" {
		t.Fatalf("after the failed rerun: rollback %+v", rb)
	}
	want := "system:rollback.pending dave:rollback.held dave:rollback.called_off dave:release.rerun"
	if got := actionsOf(db, v2.ID); !strings.Contains(got, want) || strings.Count(got, "rollback.pending") != 2 {
		t.Fatalf("audit: %s", got)
	}
}

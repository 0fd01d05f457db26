package sqlstore_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// canaryService has a service job rolled out by a canary that pauses for
// a person and judges the new version; ROLLBACK adds to production.
const canaryService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: production
ROLLBACK
  pipeline:
    jobs:
      - name: rollout
        service: {exec: ["./app", "${PORT}"], listen: 127.0.0.1:18080}
        strategy:
          canary:
            steps:
              - set_weight: 10
              - pause: {}
              - analysis: {sequential: {duration: 1m}}
            background_analysis: {sequential: {}}
`

func eventDetails(t *testing.T, db *sqlstore.DB, id int64, action string) map[string]any {
	t.Helper()
	var out map[string]any
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.Action == action {
				out = map[string]any{}
				json.Unmarshal(e.Details, &out)
			}
		}
		return nil
	})
	if out == nil {
		t.Fatalf("release %d has no %s event: %s", id, action, actionsOf(db, id))
	}
	return out
}

// A rollback release carries the strategy it will use in its frozen
// pipeline: all at once by default, or the environment's rollback_strategy
// — never the canary (its manual pause and its judges) of the version it
// restores.
func testRollbackReleaseStrategy(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, strings.Replace(canaryService, "ROLLBACK\n", "", 1))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID) // only what succeeded here is restored
	v2, _ := newRelease(db, "production", "2.0", "carol")
	rollback := func() *shipgate.Release {
		var rr *shipgate.Release
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			var err error
			rr, err = reconcile.CreateRollbackRelease(ctx, tx, sqlstore.NewRollback{Of: find(db, v2.ID), Target: find(db, v1.ID), TriggeredBy: shipgate.TriggeredByUser, Actor: "carol"})
			return err
		})
		return find(db, rr.ID)
	}
	rr := rollback()
	if j, _ := rr.Pipeline.Job("rollout"); j.Strategy != nil || j.Service == nil {
		t.Fatalf("rollback release's strategy %+v, want none (all traffic at once)", j.Strategy)
	}
	if j, _ := find(db, v1.ID).Pipeline.Job("rollout"); j.Strategy == nil || j.Strategy.Canary == nil {
		t.Fatal("the restored release's own pipeline changed")
	}
	if got := eventDetails(t, db, rr.ID, shipgate.ActionReleaseCreated)["rollout"]; got != "all traffic at once" {
		t.Fatalf("release.created says rollout %v", got)
	}

	testutil.MustApply(t, db, strings.Replace(canaryService, "ROLLBACK\n", `      windows: [{start: "09:00", end: "16:00"}]
      windows_apply_to_rollbacks: true
      rollback_strategy:
        canary: {steps: [{set_weight: 50}, {pause: 10s}]}
`, 1))
	rr2 := rollback()
	want := &shipgate.Strategy{Canary: &shipgate.CanaryStrategy{Steps: []shipgate.CanaryStep{{SetWeight: ptr(50)}, {Pause: &shipgate.Pause{Duration: shipgate.Duration(10 * time.Second)}}}}}
	if j, _ := rr2.Pipeline.Job("rollout"); !reflect.DeepEqual(j.Strategy, want) {
		t.Fatalf("rollback release's strategy %+v, want the rollback_strategy", j.Strategy)
	}
	if !rr2.Policy.WindowsApplyToRollbacks || rr2.Policy.RollbackStrategy == nil {
		t.Fatalf("frozen policy lost the rollback keys: %+v", rr2.Policy)
	}
	if rr2.Digest == rr.Digest || rr2.Digest != rr2.ReleaseContent.Digest() {
		t.Fatal("the digest does not cover the rollback's strategy")
	}
	verify(t, db)
}

func ptr[T any](v T) *T { return &v }

// With the deploy window closed, a policy rollback starts at once and its
// release.started says why; where the environment applies windows to
// rollbacks, it waits and says that.
func testRollbackWindows(t *testing.T, engine string) {
	for _, applies := range []bool{false, true} {
		db, clock := newStore(t, engine) // Monday 10:00 UTC
		svc := strings.Replace(rollbackSvc("pipeline", 0), "mode: last_successful}", "mode: last_successful}\n      windows: [{days: [mon], start: \"09:00\", end: \"11:00\"}]", 1)
		if applies {
			svc = strings.Replace(svc, "      windows:", "      windows_apply_to_rollbacks: true\n      windows:", 1)
		}
		testutil.MustApply(t, db, svc)
		v1, _ := newRelease(db, "production", "1.0", "carol")
		runTo(t, db, v1.ID)
		v2, _ := newRelease(db, "production", "2.0", "carol")
		d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Hour, Work: &reconcile.Signal{}}
		a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
		if err != nil || !ok || a.Key.ReleaseID != v2.ID {
			t.Fatalf("claim v2: %v %v", ok, err)
		}
		clock.Add(2 * time.Hour) // the window closed while v2 ran
		if err := d.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Reason: "broke"}); err != nil {
			t.Fatal(err)
		}
		rr := find(db, rollbackOf(t, db, v2.ID).RollbackRelease)
		if !applies {
			if rr.State != shipgate.StateRunning {
				t.Fatalf("rollback release %s %q, want running outside the window", rr.State, rr.Reason)
			}
			if got := eventDetails(t, db, rr.ID, shipgate.ActionReleaseStarted)["window"]; got != shipgate.RollbackOutsideWindow {
				t.Fatalf("release.started window note %v", got)
			}
			continue
		}
		if rr.State != shipgate.StateQueued || !strings.Contains(rr.Reason, "applies windows to rollbacks") || rr.WaitUntil == nil {
			t.Fatalf("held rollback release %s %q until %v", rr.State, rr.Reason, rr.WaitUntil)
		}
		verify(t, db)
	}
}

// hold and now record the reason a person gives; a reason that is not one
// line of printable text is refused and changes nothing.
func testRollbackReasonAudited(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("pipeline", 600))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	runTo(t, db, v2.ID, "deploy")
	before := actionsOf(db, v2.ID)
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := reconcile.HoldRollback(ctx, tx, "dave", v2.ID, "looking\ninto it")
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.EINVALID || actionsOf(db, v2.ID) != before || rollbackOf(t, db, v2.ID).State != shipgate.RollbackPending {
		t.Fatalf("reason with a line break: %v; events %s", err, actionsOf(db, v2.ID))
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.HoldRollback(ctx, tx, "dave", v2.ID, "checking the dashboards first")
		return err
	})
	if got := eventDetails(t, db, v2.ID, shipgate.ActionRollbackHeld)["reason"]; got != "checking the dashboards first" {
		t.Fatalf("rollback.held reason %v", got)
	}
	if rb := rollbackOf(t, db, v2.ID); !strings.Contains(rb.Reason, "checking the dashboards first") {
		t.Fatalf("held rollback says %q", rb.Reason)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RollbackNow(ctx, tx, "dave", v2.ID, "errors are up 5%"); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, v2.ID)
		return err
	})
	if got := eventDetails(t, db, v2.ID, shipgate.ActionRollbackNow)["reason"]; got != "errors are up 5%" {
		t.Fatalf("rollback.now reason %v", got)
	}
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackFired {
		t.Fatalf("rollback %s", rb.State)
	}
	verify(t, db)
}

// storedRelease creates a release whose artifact is in store.
func storedRelease(t *testing.T, db *sqlstore.DB, store *artifactstore.Store, version string) *shipgate.Release {
	t.Helper()
	res, err := store.Put(strings.NewReader("artifact "+version), "")
	if err != nil {
		t.Fatal(err)
	}
	var r *shipgate.Release
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		r, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "production", Version: version,
			Artifact: shipgate.Artifact{Location: "/srv/web-" + version + ".tar", SHA256: res.SHA256, Size: res.Size, Stored: true}, CreatedBy: "carol"})
		if err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r.ID)
		return err
	})
	return r
}

// A policy rollback to a version whose artifact is gone is refused up
// front, by rollback.unavailable with the reason, as when there is nothing
// to roll back to; one whose artifact goes while it waits ends the same
// way when it fires.
func testRollbackArtifactUnavailable(t *testing.T, engine string) {
	for _, delay := range []int{0, 60} {
		db, clock := newStore(t, engine)
		store, err := artifactstore.Open(filepath.Join(t.TempDir(), "artifacts"))
		if err != nil {
			t.Fatal(err)
		}
		db.ArtifactCheck = (&reconcile.Dispatcher{DB: db, Artifacts: store}).CheckArtifact
		testutil.MustApply(t, db, rollbackSvc("pipeline", delay))
		v1 := storedRelease(t, db, store, "1.0")
		runTo(t, db, v1.ID)
		v2 := storedRelease(t, db, store, "2.0")
		if delay == 0 {
			store.Remove(v1.Artifact.SHA256) // say, by artifact gc
		}
		runTo(t, db, v2.ID, "deploy")
		if delay > 0 {
			if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackPending {
				t.Fatalf("rollback %s", rb.State)
			}
			// Damaged rather than removed: the bytes no longer have the digest.
			blob := filepath.Join(store.Dir(), "sha256", v1.Artifact.SHA256)
			os.Chmod(blob, 0o600)
			if err := os.WriteFile(blob, []byte("other bytes"), 0o600); err != nil {
				t.Fatal(err)
			}
			clock.Add(time.Duration(delay) * time.Second)
			testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, _, err := reconcile.Release(ctx, tx, v2.ID); return err })
		}
		rb := rollbackOf(t, db, v2.ID)
		want := "the stored copy of sha256:" + v1.Artifact.SHA256[:12] + "… is missing"
		if delay > 0 {
			want = "the stored copy of sha256:" + v1.Artifact.SHA256[:12] + "… is damaged"
		}
		if rb.State != shipgate.RollbackUnavailable || rb.RollbackRelease != 0 || !strings.Contains(rb.Reason, "cannot roll back to version 1.0") || !strings.Contains(rb.Reason, want) {
			t.Fatalf("delay %d: rollback %+v", delay, rb)
		}
		if got, _ := eventDetails(t, db, v2.ID, shipgate.ActionRollbackUnavailable)["reason"].(string); !strings.Contains(got, want) {
			t.Fatalf("rollback.unavailable reason %q", got)
		}
		if delay > 0 && !strings.HasSuffix(actionsOf(db, v2.ID), "system:rollback.pending system:rollback.fired system:rollback.unavailable") {
			t.Fatalf("a rollback whose artifact went while it waited fires, then is unavailable: %s", actionsOf(db, v2.ID))
		}
		if delay == 0 && strings.Contains(actionsOf(db, v2.ID), "rollback.pending") {
			t.Fatalf("refused only after going pending: %s", actionsOf(db, v2.ID))
		}
		rels, _ := listAll(db)
		if len(rels) != 2 {
			t.Fatalf("a rollback release was created: %d releases", len(rels))
		}
		verify(t, db)
	}
}

func listAll(db *sqlstore.DB) ([]*shipgate.Release, error) {
	var out []*shipgate.Release
	err := db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListReleases(ctx, shipgate.ReleaseFilter{Limit: 100})
		return err
	})
	return out, err
}

// `rollback now` on a pending or held rollback whose artifact was damaged
// while it waited: the person's rollback.now stays on record, the rollback
// fires and is then unavailable — not refused as "held, not pending",
// which would leave nothing but a rerun (hostile review of issue 11).
func testRollbackNowUnavailable(t *testing.T, engine string) {
	for _, hold := range []bool{false, true} {
		db, _ := newStore(t, engine)
		store, err := artifactstore.Open(filepath.Join(t.TempDir(), "artifacts"))
		if err != nil {
			t.Fatal(err)
		}
		db.ArtifactCheck = (&reconcile.Dispatcher{DB: db, Artifacts: store}).CheckArtifact
		testutil.MustApply(t, db, rollbackSvc("pipeline", 600))
		v1 := storedRelease(t, db, store, "1.0")
		runTo(t, db, v1.ID)
		v2 := storedRelease(t, db, store, "2.0")
		runTo(t, db, v2.ID, "deploy")
		if hold {
			testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := reconcile.HoldRollback(ctx, tx, "dave", v2.ID, ""); return err })
		}
		blob := filepath.Join(store.Dir(), "sha256", v1.Artifact.SHA256)
		os.Chmod(blob, 0o600)
		if err := os.WriteFile(blob, []byte("other bytes"), 0o600); err != nil {
			t.Fatal(err)
		}
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			_, err := reconcile.RollbackNow(ctx, tx, "dave", v2.ID, "errors up")
			return err
		})
		rb := rollbackOf(t, db, v2.ID)
		want := "dave:rollback.now dave:rollback.fired system:rollback.unavailable"
		if rb.State != shipgate.RollbackUnavailable || rb.RollbackRelease != 0 || !strings.HasSuffix(actionsOf(db, v2.ID), want) {
			t.Fatalf("held=%v: rollback %s %q; events %s", hold, rb.State, rb.Reason, actionsOf(db, v2.ID))
		}
		verify(t, db)
	}
}

// A failed rollback release that is rerun and succeeds rolls its release
// back after all: the rollback goes from failed to done and the release to
// rolled_back (hostile review of issue 11).
func testRollbackReleaseRerun(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("pipeline", 0))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	runTo(t, db, v2.ID, "deploy")
	rr := runTo(t, db, rollbackOf(t, db, v2.ID).RollbackRelease, "deploy")
	if rr.State != shipgate.StateFailed || rollbackOf(t, db, v2.ID).State != shipgate.RollbackFailed {
		t.Fatalf("rollback release %s, rollback %s", rr.State, rollbackOf(t, db, v2.ID).State)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RerunRelease(ctx, tx, "carol", rr.ID); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, rr.ID)
		return err
	})
	if rr = runTo(t, db, rr.ID); rr.State != shipgate.StateSucceeded {
		t.Fatalf("rerun of the rollback release: %s", rr.State)
	}
	rb := rollbackOf(t, db, v2.ID)
	if got := find(db, v2.ID); got.State != shipgate.StateRolledBack || rb.State != shipgate.RollbackDone || rb.RollbackRelease != rr.ID {
		t.Fatalf("v2 %s, rollback %s %q", got.State, rb.State, rb.Reason)
	}
	if got := actionsOf(db, v2.ID); !strings.HasSuffix(got, "system:rollback.failed system:release.rolled_back") {
		t.Fatalf("events %s", got)
	}
}

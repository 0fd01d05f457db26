package sqlstore_test

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// auditOf returns the last event of action on release id.
func auditOf(t *testing.T, db *sqlstore.DB, id int64, action string) shipgate.AuditEvent {
	t.Helper()
	var out *shipgate.AuditEvent
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: id})
		if err != nil {
			t.Fatal(err)
		}
		for i := range events {
			if events[i].Action == action {
				out = &events[i]
			}
		}
		return nil
	})
	if out == nil {
		t.Fatalf("release %d has no %s event: %s", id, action, actionsOf(db, id))
	}
	return *out
}

// A rollback a person fires with `rollback now` is theirs: the rollback
// keeps who held it and why, and who fired it and why; rollback.fired names
// both; the rollback release is created by the person who fired it, as a
// manual `shipgate rollback` is, and its release.created carries their
// reason. A rollback whose delay simply runs out is the system's, with no
// person named.
func testRollbackNowNamesThePerson(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("pipeline", 600))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	runTo(t, db, v2.ID, "deploy")
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.HoldRollback(ctx, tx, "carol", v2.ID, "checking the dashboards first")
		return err
	})
	if rb := rollbackOf(t, db, v2.ID); rb.HeldBy != "carol" || rb.HoldReason != "checking the dashboards first" {
		t.Fatalf("held rollback: held by %q for %q", rb.HeldBy, rb.HoldReason)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RollbackNow(ctx, tx, "dave", v2.ID, "dashboards say broken"); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, v2.ID)
		return err
	})
	rb := rollbackOf(t, db, v2.ID)
	if rb.State != shipgate.RollbackFired || rb.RequestedBy != "dave" || rb.RequestReason != "dashboards say broken" ||
		rb.HeldBy != "carol" || rb.HoldReason != "checking the dashboards first" {
		t.Fatalf("fired rollback: %+v", rb)
	}
	fired := eventDetails(t, db, v2.ID, shipgate.ActionRollbackFired)
	for k, want := range map[string]any{"triggered_by": shipgate.TriggeredByUser, "requested_by": "dave", "reason": "dashboards say broken",
		"held_by": "carol", "hold_reason": "checking the dashboards first"} {
		if fired[k] != want {
			t.Errorf("rollback.fired %s = %v, want %v (details %v)", k, fired[k], want, fired)
		}
	}
	if e := auditOf(t, db, v2.ID, shipgate.ActionRollbackFired); e.Actor != "dave" {
		t.Errorf("rollback.fired actor %q, want dave", e.Actor)
	}
	rr := find(db, rb.RollbackRelease)
	if rr.CreatedBy != "dave" {
		t.Errorf("rollback release created by %q, want dave", rr.CreatedBy)
	}
	created := auditOf(t, db, rr.ID, shipgate.ActionReleaseCreated)
	if created.Actor != "dave" {
		t.Errorf("release.created actor %q, want dave", created.Actor)
	}
	if d := eventDetails(t, db, rr.ID, shipgate.ActionReleaseCreated); d["reason"] != "dashboards say broken" || d["triggered_by"] != shipgate.TriggeredByUser {
		t.Errorf("release.created details %v", d)
	}
	runTo(t, db, rr.ID)

	// The delay runs out with nobody acting: the system fires it, and no
	// person is named.
	v3, _ := newRelease(db, "production", "3.0", "carol")
	runTo(t, db, v3.ID, "deploy")
	clock.Add(601 * time.Second)
	reconcileAll(t, db)
	rb = rollbackOf(t, db, v3.ID)
	if rb.State != shipgate.RollbackFired || rb.RequestedBy != "" || rb.RequestReason != "" {
		t.Fatalf("policy rollback: %+v", rb)
	}
	fired = eventDetails(t, db, v3.ID, shipgate.ActionRollbackFired)
	if e := auditOf(t, db, v3.ID, shipgate.ActionRollbackFired); e.Actor != shipgate.SystemActor {
		t.Errorf("policy rollback.fired actor %q", e.Actor)
	}
	if _, named := fired["requested_by"]; named || fired["triggered_by"] != shipgate.TriggeredByPolicy {
		t.Errorf("policy rollback.fired details %v", fired)
	}
	if rr := find(db, rb.RollbackRelease); rr.CreatedBy != shipgate.SystemActor {
		t.Errorf("policy rollback release created by %q", rr.CreatedBy)
	}
	verify(t, db)
}

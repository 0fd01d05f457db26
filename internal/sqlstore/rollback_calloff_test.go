package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// A person calls off a pending rollback, then a held one: each ends
// called_off in their name, the failed release stays failed, nothing fires
// after the delay, the environment is free for the next deploy, and a
// second call-off is refused.
func testRollbackCalledOffByPerson(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("health", 120))
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	runTo(t, db, v2.ID, "health")
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackPending {
		t.Fatalf("v2's rollback: %+v", rb)
	}
	// A deploy waits while an earlier release's rollback is pending.
	v3, _ := newRelease(db, "production", "3.0", "carol")
	if got := find(db, v3.ID); got.State != shipgate.StateQueued {
		t.Fatalf("v3 %s while v2's rollback is pending", got.State)
	}

	callOff := func(who string, id int64, reason string) error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, err := reconcile.CallOffRollback(ctx, tx, who, id, reason)
			return err
		})
	}
	if err := callOff("erin", v2.ID, "the errors came from the load balancer"); err != nil {
		t.Fatal(err)
	}
	rb := rollbackOf(t, db, v2.ID)
	if rb.State != shipgate.RollbackCalledOff || rb.FiresAt != nil || rb.Reason != "called off by erin: the errors came from the load balancer" {
		t.Fatalf("called off: %+v", rb)
	}
	d := eventDetails(t, db, v2.ID, shipgate.ActionRollbackCalledOff)
	if d["reason"] != "the errors came from the load balancer" || d["called_by"] != "person" || d["from_state"] != "pending" || d["target_version"] != "1.0" {
		t.Fatalf("rollback.called_off details %v", d)
	}
	if got := actionsOf(db, v2.ID); !strings.HasSuffix(got, "system:rollback.pending erin:rollback.called_off") {
		t.Fatalf("timeline %s", got)
	}

	// Long past its delay: still failed, never rolled back; v3 went ahead.
	clock.Add(time.Hour)
	reconcileAll(t, db)
	if got := find(db, v2.ID); got.State != shipgate.StateFailed {
		t.Fatalf("v2 %s", got.State)
	}
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackCalledOff || rb.RollbackRelease != 0 {
		t.Fatalf("after the delay: %+v", rb)
	}
	if got := find(db, v3.ID); got.State != shipgate.StateRunning {
		t.Fatalf("v3 %s once v2's rollback was called off", got.State)
	}
	if err := callOff("erin", v2.ID, "again"); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("second call-off: %v", err)
	}

	// Held first, then called off; refused for a release without a rollback.
	runTo(t, db, v3.ID, "health")
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.HoldRollback(ctx, tx, "dave", v3.ID, "looking")
		return err
	})
	if err := callOff("erin", v3.ID, "looked: it is fine"); err != nil {
		t.Fatal(err)
	}
	if d := eventDetails(t, db, v3.ID, shipgate.ActionRollbackCalledOff); d["from_state"] != "held" || d["called_by"] != "person" {
		t.Fatalf("held → called_off details %v", d)
	}
	if err := callOff("erin", v1.ID, "nothing to call off"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("call-off without a rollback: %v", err)
	}
	if err := callOff("erin", v3.ID, ""); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("call-off without a reason: %v", err)
	}
	verify(t, db)
}

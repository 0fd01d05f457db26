package reconcile_test

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestTickExpiresFlagChanges: a pending flag change older than its
// environment's expires_after is recorded expired by the reconciler's
// tick, and audited.
func TestTickExpiresFlagChanges(t *testing.T) {
	db := testutil.NewStore(t, "sqlite")
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db.Now = clock.Now
	testutil.MustApply(t, db, `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  flags:
    - {key: beta, type: boolean, variants: {"on": true, "off": false}, default_variant: "on", safe_variant: "off"}
  environments:
    - name: production
      flag_approvals: {required: 1, expires_after: 30m}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`)
	var id int64
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		c, err := tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "olga", Service: "web", Environment: "production", Key: "beta", Op: shipgate.FlagOpDisable, Reason: "calm down"})
		if c != nil {
			id = c.ID
		}
		return err
	})
	rec := reconcile.NewReconciler(db, nil)
	state := func() shipgate.FlagChangeState {
		var c *shipgate.FlagChange
		testutil.View(t, db, func(tx *sqlstore.Tx) error {
			var err error
			c, err = tx.FindFlagChange(ctx, id)
			return err
		})
		return c.State
	}
	if _, err := rec.RunOnce(ctx); err != nil || state() != shipgate.FlagChangePending {
		t.Fatalf("before expiry: %s %v", state(), err)
	}
	clock.Add(30 * time.Minute)
	if _, err := rec.RunOnce(ctx); err != nil || state() != shipgate.FlagChangeExpired {
		t.Fatalf("after expiry: %s %v", state(), err)
	}
}

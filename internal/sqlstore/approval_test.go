package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// testDecideStateFirst: deciding a release that is no longer waiting for
// approval is refused for that reason, whoever decides and whatever digest
// they state; a membership or self-approval error there would send them
// looking for the wrong fix. The refusal changes nothing.
func testDecideStateFirst(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	carol := testutil.MustUser(t, db, "carol", []shipgate.Role{shipgate.RoleDeployer, shipgate.RoleApprover}, "release-managers")
	dave := testutil.MustUser(t, db, "dave", []shipgate.Role{shipgate.RoleApprover})
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	stg, _ := newRelease(db, "staging", "1.0", "carol")
	finishRun(t, db, stg.ID, true)
	rejected, err := newRelease(db, "production", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := newRelease(db, "production", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, _, err := reconcile.Decide(ctx, tx, alice, rejected.ID, shipgate.DecisionReject, rejected.Digest, "no"); err != nil {
			return err
		}
		_, err := reconcile.CancelRelease(ctx, tx, "carol", cancelled.ID, "not today")
		return err
	})
	before := verify(t, db)
	for _, r := range []*shipgate.Release{rejected, cancelled, stg} {
		state := find(db, r.ID).State
		for _, c := range []struct {
			who    *shipgate.User
			digest string
		}{
			{dave, r.Digest},       // not a member
			{carol, r.Digest},      // the creator
			{alice, r.Digest},      // a member
			{alice, "sha256:0000"}, // a stale digest
			{carol, "sha256:0000"}, // both wrong
		} {
			for _, decision := range []string{shipgate.DecisionApprove, shipgate.DecisionReject} {
				err := db.Update(ctx, func(tx *sqlstore.Tx) error {
					_, _, err := reconcile.Decide(ctx, tx, c.who, r.ID, decision, c.digest, "")
					return err
				})
				verb := map[string]string{shipgate.DecisionApprove: "approved", shipgate.DecisionReject: "rejected"}[decision]
				want := fmt.Sprintf("release %d is %s; only pending_approval releases can be %s", r.ID, state, verb)
				if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || shipgate.ErrorMessage(err) != want {
					t.Errorf("%s %s release %d (%s) with digest %s: %v, want %q", c.who.Name, decision, r.ID, state, c.digest, err, want)
				}
			}
		}
	}
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, _, err := reconcile.Decide(ctx, tx, dave, 999, shipgate.DecisionApprove, "sha256:0000", "")
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Errorf("deciding a release that does not exist: %v", err)
	}
	if after := verify(t, db); after != before {
		t.Errorf("refused decisions wrote %d audit events", after-before)
	}
}

// testDecideNamesApprovers: whoever is refused for who they are is told
// which groups may decide, so they know whom to ask.
func testDecideNamesApprovers(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	dave := testutil.MustUser(t, db, "dave", []shipgate.Role{shipgate.RoleApprover})
	vic := testutil.MustUser(t, db, "vic", []shipgate.Role{shipgate.RoleDeployer}, "release-managers")
	testutil.MustUser(t, db, "carol", []shipgate.Role{shipgate.RoleDeployer}, "release-managers")
	stg, _ := newRelease(db, "staging", "1.0", "carol")
	finishRun(t, db, stg.ID, true)
	r, err := newRelease(db, "production", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*shipgate.User{dave, vic} {
		for _, decision := range []string{shipgate.DecisionApprove, shipgate.DecisionReject} {
			err := db.Update(ctx, func(tx *sqlstore.Tx) error {
				_, _, err := reconcile.Decide(ctx, tx, u, r.ID, decision, r.Digest, "")
				return err
			})
			if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), `members of "release-managers"`) || !strings.Contains(err.Error(), "may "+decision+" releases to production") {
				t.Errorf("%s %s: %v", u.Name, decision, err)
			}
		}
	}
}

package sqlstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// testUnknownGroups: from_groups naming a group without members is found,
// with its path and the closest existing group.
func testUnknownGroups(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	spec, err := config.ParseService("svc.yaml", []byte(strings.Replace(testutil.ServiceYAML, "[release-managers]", "[relase-managers, sre]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	check := func() ([]string, error) {
		var missing []string
		err := db.View(ctx, func(tx *sqlstore.Tx) error {
			var err error
			missing, err = tx.CheckGroups(ctx, spec)
			return err
		})
		return missing, err
	}
	missing, err := check()
	var verr *shipgate.ValidationError
	if !errors.As(err, &verr) || strings.Join(missing, ",") != "relase-managers,sre" || len(verr.Problems) != 2 {
		t.Fatalf("no groups at all: %v %v", missing, err)
	}
	if p := verr.Problems[0]; p.Path != "spec.environments[1].approvals.from_groups[0]" || strings.Contains(p.Message, "did you mean") {
		t.Errorf("first problem: %+v", p)
	}
	testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers", "sre")
	missing, err = check()
	if !errors.As(err, &verr) || strings.Join(missing, ",") != "relase-managers" || len(verr.Problems) != 1 {
		t.Fatalf("with release-managers: %v %v", missing, err)
	}
	// sre exists, so its members can approve: the message says only that
	// the typo adds nobody.
	want := `group "relase-managers" does not exist (no user is in it), so it adds no approvers: only members of "sre" can approve releases to production; did you mean "release-managers"? Otherwise add its first member with ` + "`shipgate group add relase-managers --user NAME`" + `, or apply with --allow-unknown-groups`
	if p := verr.Problems[0]; p.Path != "spec.environments[1].approvals.from_groups[0]" || p.Message != want {
		t.Errorf("typo: %+v", p)
	}
	spec.Environments[1].Approvals.FromGroups = []string{"release-managers", "sre"}
	if missing, err := check(); err != nil || missing != nil {
		t.Fatalf("all groups exist: %v %v", missing, err)
	}
}

// testRemoveGroupInUse: the last member of a group that a current policy
// names is removed only with force, which is audited; the refusal names
// the services and changes nothing.
func testRemoveGroupInUse(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers", "sre")
	testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	testutil.MustApply(t, db, testutil.ServiceYAML)
	remove := func(group, user string, force bool) error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.RemoveGroupMemberGuarded(ctx, "root", group, user, force)
			return err
		})
	}
	if err := remove("release-managers", "bob", false); err != nil {
		t.Fatalf("a member who is not the last: %v", err)
	}
	if err := remove("sre", "alice", false); err != nil {
		t.Fatalf("the last member of a group no policy names: %v", err)
	}
	before := verify(t, db)
	err := remove("release-managers", "alice", false)
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), `"alice" is the last member of group "release-managers", which the approval policies of web/production name`) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("the last member of a group web names: %v", err)
	}
	if after := verify(t, db); after != before {
		t.Fatal("the refusal wrote to the audit log")
	}
	if err := remove("release-managers", "alice", true); err != nil {
		t.Fatalf("forced: %v", err)
	}
	var events []shipgate.AuditEvent
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ = tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 1000})
		return nil
	})
	last := events[len(events)-1]
	if last.Action != shipgate.ActionGroupEmptiedInUse || last.Subject != "group/release-managers" || !strings.Contains(string(last.Details), `"services":["web"]`) {
		t.Fatalf("forced removal audited as %+v %s", last, last.Details)
	}
	if events[len(events)-2].Action != shipgate.ActionGroupMemberRemoved {
		t.Fatalf("the removal itself is not audited: %+v", events[len(events)-2])
	}
}

// testLastApproverGuard: every change that leaves a group named by a
// current policy without a member who may approve (disable, set-roles
// dropping approver, group remove) is refused with the services and
// environments unless forced, and forcing it is audited. Before, only
// group remove of the very last member was guarded: disabling the only
// approver, or taking their approver role, left production impossible to
// approve without a word.
func testLastApproverGuard(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustUser(t, db, "carol", []shipgate.Role{shipgate.RoleApprover}, "release-managers", "sre")
	testutil.MustUser(t, db, "dave", []shipgate.Role{shipgate.RoleDeployer}, "release-managers")
	testutil.MustUser(t, db, "erin", []shipgate.Role{shipgate.RoleApprover}, "sre")
	testutil.MustApply(t, db, testutil.ServiceYAML)
	change := func(f func(tx *sqlstore.Tx) error) error { return db.Update(ctx, f) }
	before := verify(t, db)
	refusals := []struct {
		name, want string
		f          func(tx *sqlstore.Tx) error
	}{
		{"disable", `disabling "carol" would leave group "release-managers" with no member who may approve`, func(tx *sqlstore.Tx) error {
			_, err := tx.DisableUserGuarded(ctx, "root", "carol", "left", false)
			return err
		}},
		{"set-roles", `taking the approver role from "carol" would leave group "release-managers" with no member who may approve`, func(tx *sqlstore.Tx) error {
			_, err := tx.SetUserRolesGuarded(ctx, "root", "carol", []shipgate.Role{shipgate.RoleDeployer}, false)
			return err
		}},
		// dave stays a member but cannot approve.
		{"group remove", `removing "carol" from group "release-managers" would leave group "release-managers" with no member who may approve`, func(tx *sqlstore.Tx) error {
			_, err := tx.RemoveGroupMemberGuarded(ctx, "root", "release-managers", "carol", false)
			return err
		}},
	}
	for _, r := range refusals {
		err := change(r.f)
		if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), r.want) ||
			!strings.Contains(err.Error(), "web/production") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("%s: %v", r.name, err)
		}
	}
	if after := verify(t, db); after != before {
		t.Fatalf("the refusals wrote %d audit events", after-before)
	}
	u := func(name string) *shipgate.User {
		var out *shipgate.User
		db.View(ctx, func(tx *sqlstore.Tx) error { out, _ = tx.FindUser(ctx, name); return nil })
		return out
	}
	if c := u("carol"); c.Disabled() || !c.HasRole(shipgate.RoleApprover) || len(c.Groups) != 2 {
		t.Fatalf("a refusal changed carol: %+v", c)
	}
	// Changes that leave an approver are not held up: sre keeps erin, and
	// carol keeps the approver role with another one added.
	if err := change(func(tx *sqlstore.Tx) error {
		_, err := tx.SetUserRolesGuarded(ctx, "root", "carol", []shipgate.Role{shipgate.RoleApprover, shipgate.RoleDeployer}, false)
		return err
	}); err != nil {
		t.Fatalf("keeping the approver role: %v", err)
	}
	if err := change(func(tx *sqlstore.Tx) error {
		_, err := tx.DisableUserGuarded(ctx, "root", "erin", "", false)
		return err
	}); err != nil {
		t.Fatalf("a group no policy names: %v", err)
	}
	// Forced: done, and audited with what was done and what it names.
	if err := change(func(tx *sqlstore.Tx) error {
		_, err := tx.DisableUserGuarded(ctx, "root", "carol", "left the company", true)
		return err
	}); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if !u("carol").Disabled() {
		t.Fatal("forced disable did not disable")
	}
	var events []shipgate.AuditEvent
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ = tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 1000})
		return nil
	})
	var found bool
	for _, e := range events {
		if e.Action == shipgate.ActionGroupEmptiedInUse {
			found = true
			d := string(e.Details)
			if e.Subject != "group/release-managers" || !strings.Contains(d, `"change":"user.disabled"`) || !strings.Contains(d, `"environments":["web/production"]`) || !strings.Contains(d, `"user":"carol"`) {
				t.Fatalf("forced disable audited as %+v %s", e, d)
			}
		}
	}
	if !found {
		t.Fatal("the forced disable is not audited as group.emptied_in_use")
	}
}

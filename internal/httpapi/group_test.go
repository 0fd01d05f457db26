package httpapi_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

func auditLen(t *testing.T, f *fixture) int {
	t.Helper()
	var n int
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 100000})
		n = len(events)
		return err
	})
	return n
}

func giveToken(t *testing.T, f *fixture, user string) {
	t.Helper()
	secret := shipgate.NewTokenSecret()
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", user, "", secret); return err })
	f.tokens[user] = secret
}

// A service file whose from_groups names a group that does not exist is
// refused at apply with file:line and a suggestion, and nothing is
// applied; allowed explicitly, it is applied with a warning and audited.
func TestApplyUnknownGroup(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	src := strings.Replace(gatedYAML, "[release-managers]", "[relase-managers]", 1)
	_, err := admin.Apply(ctx, "web.yaml", []byte(src))
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `web.yaml:10: group "relase-managers" does not exist, so nobody could approve releases to production; did you mean "release-managers"?`) {
		t.Fatalf("apply: %v", err)
	}
	if svcs, _ := admin.Services(ctx); len(svcs) != 0 {
		t.Fatal("the file was applied")
	}
	res, err := admin.ApplyFile(ctx, client.ApplyRequest{Filename: "web.yaml", Source: src, AllowUnknownGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], `web.yaml:10: group "relase-managers" does not exist`) {
		t.Fatalf("allowed: %+v", res)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionServiceUnknownGroupsAllowed || !strings.Contains(string(e.Details), `"groups":["relase-managers"]`) {
		t.Fatalf("not audited: %+v %s", e, e.Details)
	}
	// Unchanged, still allowed: the warning again, nothing new audited.
	n := auditLen(t, f)
	res, err = admin.ApplyFile(ctx, client.ApplyRequest{Filename: "web.yaml", Source: src, AllowUnknownGroups: true})
	if err != nil || res.Changed || len(res.Warnings) != 1 || auditLen(t, f) != n {
		t.Fatalf("unchanged: %+v %v", res, err)
	}
	if _, err := admin.Apply(ctx, "web.yaml", []byte(gatedYAML)); err != nil {
		t.Fatalf("the right group: %v", err)
	}
}

// Over HTTP, taking the only approver or the last member out of a group a
// policy names needs force.
func TestRemoveLastMemberOfGroupInUse(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(gatedYAML)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RemoveGroupMember(ctx, "release-managers", "viewer"); err != nil {
		t.Fatal(err)
	}
	// carol is the group's only member who may approve: admin stays a
	// member, but admins do not approve.
	_, err := admin.RemoveGroupMember(ctx, "release-managers", "carol")
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), `with no member who may approve`) {
		t.Fatalf("the only approver: %v", err)
	}
	if _, err := admin.RemoveGroupMemberForce(ctx, "release-managers", "carol", true); err != nil {
		t.Fatal(err)
	}
	// admin is the last member; another admin would remove them.
	if _, err := admin.CreateUser(ctx, "root2", []shipgate.Role{shipgate.RoleAdmin}, nil); err != nil {
		t.Fatal(err)
	}
	giveToken(t, f, "root2")
	_, err = f.client("root2").RemoveGroupMember(ctx, "release-managers", "admin")
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "approval policies of web/production name") {
		t.Fatalf("last member: %v", err)
	}
	if _, err := f.client("root2").RemoveGroupMemberForce(ctx, "release-managers", "admin", true); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionGroupEmptiedInUse {
		t.Fatalf("not audited: %+v", e)
	}
}

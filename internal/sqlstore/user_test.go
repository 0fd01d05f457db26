package sqlstore_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// testSelfChangeRefused: nobody changes their own roles, groups or access,
// so an admin outside release-managers cannot make themselves an approver
// there. A refusal changes nothing and writes nothing (the API audits it
// as access.denied).
func testSelfChangeRefused(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustUser(t, db, "root", []shipgate.Role{shipgate.RoleAdmin, shipgate.RoleApprover}, "sre")
	testutil.MustUser(t, db, "other", []shipgate.Role{shipgate.RoleAdmin})
	before := verify(t, db)
	for name, change := range map[string]func(tx *sqlstore.Tx) error{
		"add to group": func(tx *sqlstore.Tx) error { return tx.AddGroupMember(ctx, "root", "release-managers", "root") },
		"remove":       func(tx *sqlstore.Tx) error { _, err := tx.RemoveGroupMember(ctx, "root", "sre", "root"); return err },
		"set roles": func(tx *sqlstore.Tx) error {
			_, err := tx.SetUserRoles(ctx, "root", "root", []shipgate.Role{shipgate.RoleAdmin})
			return err
		},
		"disable":       func(tx *sqlstore.Tx) error { _, err := tx.DisableUser(ctx, "root", "root", ""); return err },
		"enable":        func(tx *sqlstore.Tx) error { return tx.EnableUser(ctx, "root", "root") },
		"unknown group": func(tx *sqlstore.Tx) error { return tx.AddGroupMember(ctx, "root", "Bad Name", "other") },
	} {
		want := shipgate.EFORBIDDEN
		if name == "unknown group" {
			want = shipgate.EINVALID
		}
		if err := db.Update(ctx, change); shipgate.ErrorCode(err) != want || want == shipgate.EFORBIDDEN && !strings.Contains(err.Error(), "own") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if u := findUser(t, db, "root"); strings.Join(u.Groups, ",") != "sre" || len(u.Roles) != 2 || u.Disabled() {
		t.Fatalf("root after refused changes: %+v", u)
	}
	if n := verify(t, db); n != before {
		t.Fatalf("refused changes wrote %d audit events", n-before)
	}
}

// testMembershipFrozenAtCreation: the members of the policy's from_groups
// are frozen into the release when it is created, in its digest. Someone
// added later cannot approve it; someone removed later cannot either, and
// an approval they gave is withdrawn, audited with why.
func testMembershipFrozenAtCreation(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	bob := testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	testutil.MustUser(t, db, "gone", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	testutil.MustUser(t, db, "other", []shipgate.Role{shipgate.RoleAdmin})
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.DisableUser(ctx, "test", "gone", ""); return err })
	stg, _ := newRelease(db, "staging", "1.0", "carol")
	finishRun(t, db, stg.ID, true)
	r, err := newRelease(db, "production", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.ApproverGroups["release-managers"], ","); got != "alice,bob" || len(r.ApproverGroups) != 1 {
		t.Fatalf("frozen approvers = %v, want alice and bob (gone is disabled)", r.ApproverGroups)
	}
	if r.Digest != r.ReleaseContent.Digest() {
		t.Fatal("the digest does not cover the frozen approvers")
	}
	if stg.ApproverGroups != nil {
		t.Fatalf("a policy without from_groups froze %v", stg.ApproverGroups)
	}
	late := testutil.MustUser(t, db, "late", []shipgate.Role{shipgate.RoleApprover})
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.AddGroupMember(ctx, "test", "release-managers", "late") })
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.EnableUser(ctx, "test", "gone") })
	decide := func(u *shipgate.User) error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, _, err := reconcile.Decide(ctx, tx, u, r.ID, shipgate.DecisionApprove, r.Digest, "")
			if err != nil {
				return err
			}
			_, _, err = reconcile.Release(ctx, tx, r.ID)
			return err
		})
	}
	for _, u := range []*shipgate.User{late, findUser(t, db, "gone")} {
		if err := decide(u); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "when release") {
			t.Fatalf("%s, not a member at creation, approved: %v", u.Name, err)
		}
	}
	// A release created now freezes the new membership.
	if r2, _ := newRelease(db, "staging", "1.1", "carol"); r2 == nil {
		t.Fatal("second staging release")
	}
	// Removed after creation: bob cannot approve; alice's approval is
	// withdrawn when she is removed.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.RemoveGroupMember(ctx, "other", "release-managers", "bob")
		return err
	})
	if err := decide(bob); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("bob, removed after creation, approved: %v", err)
	}
	if err := decide(alice); err != nil {
		t.Fatalf("a member at creation: %v", err)
	}
	var touched []int64
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		touched, err = tx.RemoveGroupMember(ctx, "other", "release-managers", "alice")
		return err
	})
	if len(touched) != 1 || touched[0] != r.ID {
		t.Fatalf("withdrawal touched %v", touched)
	}
	as := approvals(t, db, r.ID)
	if len(as) != 1 || as[0].WithdrawnAt == nil || !strings.Contains(as[0].WithdrawnReason, "alice was removed from group release-managers by other") {
		t.Fatalf("alice's approval after removal: %+v", as)
	}
	last := events(t, db, "")
	e := last[len(last)-1]
	if e.Action != shipgate.ActionApprovalWithdrawn || e.Actor != "other" || e.Subject != "release/"+itoa(r.ID) || !strings.Contains(string(e.Details), `"approver":"alice"`) {
		t.Fatalf("withdrawal audit: %+v %s", e, e.Details)
	}
	verify(t, db)
}

// testLegacyReleaseMembership: a release created before membership was
// frozen (no approver_groups in its content) keeps its digest and counts
// only members whose membership began no later than its creation.
func testLegacyReleaseMembership(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	stg, _ := newRelease(db, "staging", "1.0", "carol")
	finishRun(t, db, stg.ID, true)
	fresh, err := newRelease(db, "production", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	// Store a copy the way an older shipgate did: same content without
	// approver_groups, its own digest.
	old := fresh.ReleaseContent
	old.ApproverGroups = nil
	content, _ := json.Marshal(old)
	if strings.Contains(string(content), "approver_groups") {
		t.Fatal("approver_groups is not omitted when empty")
	}
	raw := rawDB(t, db, engine)
	q := `INSERT INTO releases (service, environment, version, kind, artifact_sha256, content, digest, state, reason, run, created_by, created_at, updated_at, generation)
		VALUES ('web', 'production', '1.0', 'deploy', $1, $2, $3, 'pending_approval', '', 0, 'carol', $4, $4, 1)`
	if engine == "sqlite" {
		q = strings.NewReplacer("$1", "?", "$2", "?", "$3", "?", "$4", "?4").Replace(q)
	}
	if _, err := raw.Exec(q, old.Artifact.SHA256, string(content), old.Digest(), old.CreatedAt.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	legacy := find(db, fresh.ID+1)
	if legacy.ApproverGroups != nil || legacy.Digest != legacy.ReleaseContent.Digest() {
		t.Fatalf("legacy release: %v %s", legacy.ApproverGroups, legacy.Digest)
	}
	clock.Add(time.Minute)
	late := testutil.MustUser(t, db, "late", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	for _, c := range []struct {
		u    *shipgate.User
		want string
	}{{late, shipgate.EFORBIDDEN}, {findUser(t, db, "alice"), ""}} {
		err := db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, _, err := reconcile.Decide(ctx, tx, c.u, legacy.ID, shipgate.DecisionApprove, legacy.Digest, "")
			return err
		})
		if shipgate.ErrorCode(err) != c.want {
			t.Fatalf("%s on a legacy release: %v", c.u.Name, err)
		}
	}
}

// testDisableUser: a disabled user's tokens stop at once; their approvals
// on releases that have not started stop counting, audited in the
// transaction that disables them, and do not come back on enable. A
// queued release that loses an approval goes back to waiting for one.
func testDisableUser(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	bob := testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	dan := testutil.MustUser(t, db, "dan", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	testutil.MustUser(t, db, "root", []shipgate.Role{shipgate.RoleAdmin})
	secret := shipgate.NewTokenSecret()
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.CreateToken(ctx, "test", "alice", "laptop", secret)
		return err
	})
	decide := func(u *shipgate.User, id int64) {
		t.Helper()
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			r, _ := tx.FindRelease(ctx, id)
			if _, _, err := reconcile.Decide(ctx, tx, u, id, shipgate.DecisionApprove, r.Digest, ""); err != nil {
				return err
			}
			_, _, err := reconcile.Release(ctx, tx, id)
			return err
		})
	}
	for _, v := range []string{"1.0", "2.0", "3.0"} {
		stg, _ := newRelease(db, "staging", v, "carol")
		finishRun(t, db, stg.ID, true)
	}
	running, _ := newRelease(db, "production", "1.0", "carol")
	decide(alice, running.ID)
	decide(bob, running.ID)
	queued, _ := newRelease(db, "production", "2.0", "carol")
	decide(alice, queued.ID)
	decide(dan, queued.ID)
	pending, _ := newRelease(db, "production", "3.0", "carol")
	decide(alice, pending.ID)
	if s := []shipgate.ReleaseState{find(db, running.ID).State, find(db, queued.ID).State, find(db, pending.ID).State}; s[0] != shipgate.StateRunning || s[1] != shipgate.StateQueued || s[2] != shipgate.StatePendingApproval {
		t.Fatalf("states before: %v", s)
	}
	before := verify(t, db)
	var touched []int64
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		if touched, err = tx.DisableUser(ctx, "root", "alice", "left the team"); err != nil {
			return err
		}
		for _, id := range touched {
			if _, _, err := reconcile.Release(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	// At once: the token is refused with the answer an unknown token gets.
	_, _, err := db.Authenticate(ctx, secret)
	_, _, unknown := db.Authenticate(ctx, shipgate.NewTokenSecret())
	if shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED || err.Error() != unknown.Error() {
		t.Fatalf("disabled user's token: %v (unknown token: %v)", err, unknown)
	}
	if len(touched) != 3 {
		t.Fatalf("disable touched releases %v, want all three", touched)
	}
	// The events of that one transaction: user.disabled, three
	// withdrawals, and the queued release back to waiting.
	evs := events(t, db, "")[before:]
	var got []string
	for _, e := range evs {
		got = append(got, e.Action)
		if !e.At.Equal(evs[0].At) {
			t.Fatalf("events of the disable are not one transaction: %+v", evs)
		}
	}
	want := "user.disabled approval.withdrawn approval.withdrawn approval.withdrawn release.approvals_lapsed"
	if strings.Join(got, " ") != want {
		t.Fatalf("disable wrote %s, want %s", strings.Join(got, " "), want)
	}
	if got := find(db, queued.ID); got.State != shipgate.StatePendingApproval || !strings.Contains(got.Reason, "withdrawn before the release started; waiting for approval: 1 of 2") {
		t.Fatalf("queued release after its approver was disabled: %s %q", got.State, got.Reason)
	}
	if got := find(db, running.ID); got.State != shipgate.StateRunning {
		t.Fatalf("a run that started before the disable: %s", got.State)
	}
	if got := find(db, pending.ID); !strings.Contains(got.Reason, "0 of 2") {
		t.Fatalf("pending release: %q", got.Reason)
	}
	// Re-enabled, alice's token works again, her old approvals do not.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.EnableUser(ctx, "root", "alice") })
	if u, _, err := db.Authenticate(ctx, secret); err != nil || u.Disabled() {
		t.Fatalf("token after enable: %v", err)
	}
	reconcileAll(t, db)
	if got := find(db, pending.ID); got.State != shipgate.StatePendingApproval || !strings.Contains(got.Reason, "0 of 2") {
		t.Fatalf("old approvals came back: %s %q", got.State, got.Reason)
	}
	decide(findUser(t, db, "alice"), pending.ID)
	if got := find(db, pending.ID); !strings.Contains(got.Reason, "1 of 2") {
		t.Fatalf("a fresh approval does not count: %q", got.Reason)
	}
	// A disabled user gets no new token; disabling twice is a no-op.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.DisableUser(ctx, "root", "bob", ""); return err })
	n := verify(t, db)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.DisableUser(ctx, "root", "bob", ""); return err })
	if verify(t, db) != n {
		t.Fatal("disabling a disabled user wrote events")
	}
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.CreateToken(ctx, "root", "bob", "", shipgate.NewTokenSecret())
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("token for a disabled user: %v", err)
	}
	if err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, _, err := reconcile.Decide(ctx, tx, bob, pending.ID, "approve", pending.Digest, "")
		return err
	}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("a disabled user decided with a stale user value: %v", err)
	}
}

// testLastAdmin: the last enabled admin can be neither disabled nor
// stripped of the admin role.
func testLastAdmin(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustUser(t, db, "admin", []shipgate.Role{shipgate.RoleAdmin})
	testutil.MustUser(t, db, "ops", []shipgate.Role{shipgate.RoleAdmin})
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.DisableUser(ctx, "admin", "ops", ""); return err })
	for name, change := range map[string]func(tx *sqlstore.Tx) error{
		"disable": func(tx *sqlstore.Tx) error { _, err := tx.DisableUser(ctx, "test", "admin", ""); return err },
		"set roles": func(tx *sqlstore.Tx) error {
			_, err := tx.SetUserRoles(ctx, "test", "admin", []shipgate.Role{"viewer"})
			return err
		},
	} {
		if err := db.Update(ctx, change); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "last enabled admin") {
			t.Errorf("%s the last admin: %v", name, err)
		}
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.EnableUser(ctx, "admin", "ops") })
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.SetUserRoles(ctx, "ops", "admin", []shipgate.Role{"viewer"})
		return err
	})
}

// testRolesAndGroupsAudited: every role and membership change records the
// state before and after; taking the approver role away withdraws that
// user's approvals; bad input changes nothing.
func testRolesAndGroupsAudited(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	testutil.MustUser(t, db, "root", []shipgate.Role{shipgate.RoleAdmin})
	stg, _ := newRelease(db, "staging", "1.0", "carol")
	finishRun(t, db, stg.ID, true)
	r, _ := newRelease(db, "production", "1.0", "carol")
	if !strings.Contains(r.Reason, "0 of 2") || !strings.Contains(r.Reason, "may approve it (alice), fewer than required") {
		t.Fatalf("a release too few people can approve does not say so: %q", r.Reason)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, _, err := reconcile.Decide(ctx, tx, alice, r.ID, "approve", r.Digest, "")
		return err
	})
	before := verify(t, db)
	for _, bad := range []func(tx *sqlstore.Tx) error{
		func(tx *sqlstore.Tx) error { _, err := tx.SetUserRoles(ctx, "root", "alice", nil); return err },
		func(tx *sqlstore.Tx) error {
			_, err := tx.SetUserRoles(ctx, "root", "alice", []shipgate.Role{"owner"})
			return err
		},
		func(tx *sqlstore.Tx) error {
			_, err := tx.SetUserRoles(ctx, "root", "nobody", []shipgate.Role{"viewer"})
			return err
		},
		func(tx *sqlstore.Tx) error { _, err := tx.RemoveGroupMember(ctx, "root", "sre", "alice"); return err },
	} {
		if err := db.Update(ctx, bad); err == nil || shipgate.ErrorCode(err) == shipgate.EINTERNAL {
			t.Errorf("bad change: %v", err)
		}
	}
	if verify(t, db) != before {
		t.Fatal("bad changes wrote events")
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.AddGroupMember(ctx, "root", "sre", "alice") })
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.RemoveGroupMember(ctx, "root", "sre", "alice"); return err })
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.SetUserRoles(ctx, "root", "alice", []shipgate.Role{"viewer", "approver"})
		return err
	})
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.SetUserRoles(ctx, "root", "alice", []shipgate.Role{"approver", "viewer"}) // the same set: no-op
		return err
	})
	if len(approvals(t, db, r.ID)) != 1 || approvals(t, db, r.ID)[0].WithdrawnAt != nil {
		t.Fatal("an approval was withdrawn though alice still may approve")
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.SetUserRoles(ctx, "root", "alice", []shipgate.Role{"deployer"})
		return err
	})
	var got []string
	for _, e := range events(t, db, "")[before:] {
		got = append(got, e.Actor+" "+e.Action+" "+e.Subject+" "+string(e.Details))
	}
	want := []string{
		`root group.member_added group/sre {"groups_after":["release-managers","sre"],"groups_before":["release-managers"],"user":"alice"}`,
		`root group.member_removed group/sre {"groups_after":["release-managers"],"groups_before":["release-managers","sre"],"user":"alice"}`,
		`root user.roles_changed user/alice {"roles_after":["approver","viewer"],"roles_before":["approver"]}`,
		`root user.roles_changed user/alice {"roles_after":["deployer"],"roles_before":["approver","viewer"]}`,
	}
	if len(got) != 5 || strings.Join(got[:4], "\n") != strings.Join(want, "\n") || !strings.Contains(got[4], "approval.withdrawn release/"+itoa(r.ID)) || !strings.Contains(got[4], "it needs the approver role") {
		t.Fatalf("audit:\n%s\nwant:\n%s\n+ approval.withdrawn", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// testTokenLifecycle: tokens may expire; the list shows each token's
// expiry and state; expired, revoked and disabled users' tokens are
// refused alike.
func testTokenLifecycle(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleViewer})
	testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleViewer})
	short, forever, bobs := shipgate.NewTokenSecret(), shipgate.NewTokenSecret(), shipgate.NewTokenSecret()
	var tok *shipgate.Token
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		if tok, err = tx.IssueToken(ctx, "test", "alice", "ci", short, time.Hour); err != nil {
			return err
		}
		if _, err = tx.IssueToken(ctx, "test", "alice", "laptop", forever, 0); err != nil {
			return err
		}
		_, err = tx.IssueToken(ctx, "test", "bob", "", bobs, 0)
		return err
	})
	if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("expiry = %v", tok.ExpiresAt)
	}
	if _, _, err := db.Authenticate(ctx, short); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	clock.Add(time.Hour)
	_, _, err := db.Authenticate(ctx, short)
	if shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("expired token: %v", err)
	}
	if _, _, err := db.Authenticate(ctx, forever); err != nil {
		t.Fatalf("token without expiry: %v", err)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.DisableUser(ctx, "test", "bob", ""); return err })
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.RevokeToken(ctx, "test", tok.ID+1) })
	var ts []shipgate.Token
	db.View(ctx, func(tx *sqlstore.Tx) error { ts, err = tx.ListTokens(ctx, ""); return err })
	var states []string
	for _, t := range ts {
		states = append(states, t.User+":"+string(t.State))
	}
	if strings.Join(states, " ") != "alice:expired alice:revoked bob:user_disabled" {
		t.Fatalf("token states: %v", states)
	}
	var created []string
	for _, e := range events(t, db, "") {
		if e.Action == shipgate.ActionTokenCreated {
			created = append(created, string(e.Details))
		}
	}
	if !strings.Contains(created[0], `"expires_at":"2026-03-02T11:00:00Z"`) || strings.Contains(created[1], "expires_at") {
		t.Fatalf("token.created events: %v", created)
	}
}

func findUser(t *testing.T, db *sqlstore.DB, name string) *shipgate.User {
	t.Helper()
	var u *shipgate.User
	if err := db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		u, err = tx.FindUser(ctx, name)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return u
}

func approvals(t *testing.T, db *sqlstore.DB, id int64) []shipgate.Approval {
	t.Helper()
	var out []shipgate.Approval
	if err := db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListApprovals(ctx, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// events returns the whole audit log, or one subject's events.
func events(t *testing.T, db *sqlstore.DB, subject string) []shipgate.AuditEvent {
	t.Helper()
	var out []shipgate.AuditEvent
	db.View(ctx, func(tx *sqlstore.Tx) error {
		all, err := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if subject == "" || e.Subject == subject {
				out = append(out, e)
			}
		}
		return nil
	})
	return out
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

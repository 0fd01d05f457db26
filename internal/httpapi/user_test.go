package httpapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// addUser creates a user with a token in the fixture.
func (f *fixture) addUser(t *testing.T, name string, roles []shipgate.Role, groups ...string) {
	t.Helper()
	testutil.MustUser(t, f.db, name, roles, groups...)
	secret := shipgate.NewTokenSecret()
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", name, "", secret); return err })
	f.tokens[name] = secret
}

func message(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// Finding 5: an admin outside release-managers cannot make themselves a
// release manager; the refusal is audited.
func TestNobodyGrantsThemselvesApproval(t *testing.T) {
	f := newFixture(t)
	f.addUser(t, "root", []shipgate.Role{shipgate.RoleAdmin, shipgate.RoleApprover})
	status, out := f.raw(t, "POST", "/api/v1/groups/release-managers/members", f.tokens["root"], []byte(`{"user":"root"}`))
	if status != 403 || !strings.Contains(message(out), "own") {
		t.Fatalf("admin adding themselves to release-managers: %d %v", status, out)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionAccessDenied || e.Actor != "root" || !strings.Contains(string(e.Details), "own") {
		t.Fatalf("self-grant not audited as a refusal: %+v %s", e, e.Details)
	}
	if u, _ := f.client("admin").Users(ctx); strings.Contains(fmt.Sprint(groupsOf(u, "root")), "release-managers") {
		t.Fatal("root joined release-managers")
	}
}

// Finding 5: the admin role alone never approves, also in an environment
// whose policy names no group.
func TestAdminAloneNeverApproves(t *testing.T) {
	f := newFixture(t)
	src := `apiVersion: shipgate/v1
kind: Service
metadata: {name: api}
spec:
  environments:
    - name: qa
      approvals: { required: 1 }
  pipeline:
    jobs:
      - {name: deploy, steps: [{run: "true"}]}
`
	if _, err := f.client("admin").Apply(ctx, "api.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "api-1.tar")
	os.WriteFile(art, []byte("api 1"), 0o644)
	v, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "api", Environment: "qa", Version: "1", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(client.DecisionRequest{Digest: v.Digest})
	status, out := f.raw(t, "POST", fmt.Sprintf("/api/v1/releases/%d/approve", v.ID), f.tokens["admin"], body)
	if status != 403 || !strings.Contains(message(out), `"release.approve" permission`) {
		t.Fatalf("admin-only user approving: %d %v", status, out)
	}
}

func groupsOf(users []*shipgate.User, name string) []string {
	for _, u := range users {
		if u.Name == name {
			return u.Groups
		}
	}
	return nil
}

// Finding 6: a disabled user's token stops working at once, with the same
// answer as an unknown token.
func TestDisabledUserIsLockedOutAtOnce(t *testing.T) {
	f := newFixture(t)
	if status, _ := f.raw(t, "GET", "/api/v1/whoami", f.tokens["carol"], nil); status != 200 {
		t.Fatalf("carol before: %d", status)
	}
	status, out := f.raw(t, "POST", "/api/v1/users/carol/disable", f.tokens["admin"], []byte(`{"reason":"left the team"}`))
	if status != 200 {
		t.Fatalf("disable: %d %v", status, out)
	}
	status, out = f.raw(t, "GET", "/api/v1/whoami", f.tokens["carol"], nil)
	_, unknown := f.raw(t, "GET", "/api/v1/whoami", "sgp_"+strings.Repeat("x", 32), nil)
	if status != 401 || message(out) != message(unknown) {
		t.Fatalf("disabled user's token: %d %v (unknown token: %v)", status, out, unknown)
	}
	if status, out := f.raw(t, "POST", "/api/v1/users/carol/enable", f.tokens["admin"], []byte(`{}`)); status != 200 {
		t.Fatalf("enable: %d %v", status, out)
	}
	if status, _ := f.raw(t, "GET", "/api/v1/whoami", f.tokens["carol"], nil); status != 200 {
		t.Fatalf("carol after enable: %d", status)
	}
}

// Finding 6: every user lists and revokes their own tokens; only an admin
// sees or revokes anyone else's.
func TestTokensAreOwnedByTheirUsers(t *testing.T) {
	f := newFixture(t)
	var ts []shipgate.Token
	status, out := f.raw(t, "GET", "/api/v1/tokens", f.tokens["viewer"], nil)
	if status != 200 {
		t.Fatalf("viewer lists own tokens: %d %v", status, out)
	}
	ts, err := f.client("viewer").Tokens(ctx, "")
	if err != nil || len(ts) != 1 || ts[0].User != "viewer" {
		t.Fatalf("viewer's tokens: %+v %v", ts, err)
	}
	if _, err := f.client("viewer").Tokens(ctx, "carol"); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("viewer listing carol's tokens: %v", err)
	}
	all, err := f.client("admin").Tokens(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("admin lists all: %d %v", len(all), err)
	}
	carols, _ := f.client("admin").Tokens(ctx, "carol")
	if len(carols) != 1 {
		t.Fatalf("carol's tokens: %+v", carols)
	}
	status, out = f.raw(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", carols[0].ID), f.tokens["viewer"], nil)
	if status != 403 {
		t.Fatalf("viewer revoking carol's token: %d %v", status, out)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionAccessDenied || e.Actor != "viewer" {
		t.Fatalf("refusal not audited: %+v", e)
	}
	status, out = f.raw(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", ts[0].ID), f.tokens["viewer"], nil)
	if status != 200 {
		t.Fatalf("viewer revoking own token: %d %v", status, out)
	}
	if status, _ := f.raw(t, "GET", "/api/v1/whoami", f.tokens["viewer"], nil); status != 401 {
		t.Fatalf("revoked token still works: %d", status)
	}
}

// Finding 6: tokens expire; a server maximum is the default lifetime and
// a longer request is refused, changing nothing.
func TestTokenLifetimeBounded(t *testing.T) {
	f := newFixture(t)
	f.h.TokenMaxLifetime = 90 * 24 * time.Hour
	admin := f.client("admin")
	before, _ := f.db.VerifyAudit(ctx)
	_, err := admin.IssueToken(ctx, client.CreateTokenRequest{User: "viewer", ExpiresIn: shipgate.Duration(91 * 24 * time.Hour)})
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "maximum token lifetime of 2160h0m0s") {
		t.Fatalf("above the maximum: %v", err)
	}
	status, out := f.raw(t, "POST", "/api/v1/tokens", f.tokens["admin"], []byte(`{"user":"viewer","expires_in":"soon"}`))
	if status != 400 {
		t.Fatalf("bad expires_in: %d %v", status, out)
	}
	if after, _ := f.db.VerifyAudit(ctx); after != before {
		t.Fatal("refused token requests wrote events")
	}
	start := time.Now()
	def, err := admin.CreateToken(ctx, "viewer", "default")
	if err != nil || def.Token.ExpiresAt == nil || def.Token.ExpiresAt.Before(start.Add(90*24*time.Hour-time.Minute)) || def.Token.State != shipgate.TokenActive {
		t.Fatalf("default lifetime: %+v %v", def.Token, err)
	}
	day, err := admin.IssueToken(ctx, client.CreateTokenRequest{User: "viewer", Name: "ci", ExpiresIn: shipgate.Duration(24 * time.Hour)})
	if err != nil || day.Token.ExpiresAt.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("24h token: %+v %v", day.Token, err)
	}
	if _, err := client.New(f.srv.URL, day.Secret).Whoami(ctx); err != nil {
		t.Fatalf("new token: %v", err)
	}
	ts, _ := f.client("viewer").Tokens(ctx, "")
	if len(ts) != 3 || ts[2].ExpiresAt == nil || ts[2].State != shipgate.TokenActive {
		t.Fatalf("viewer's tokens: %+v", ts)
	}
}

// Finding 5 and 6 through the API: a person's own changes are refused and
// audited, role and group changes answer with the user as they are now, and disabling an approver sends a queued release
// back to waiting in the same request.
func TestPeopleChangesThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	for path, body := range map[string]string{
		"/api/v1/users/admin/disable": `{}`,
		"/api/v1/users/admin/roles":   `{"roles":["admin","approver"]}`,
	} {
		method := "POST"
		if strings.HasSuffix(path, "roles") {
			method = "PUT"
		}
		status, out := f.raw(t, method, path, f.tokens["admin"], []byte(body))
		if status != 403 || !strings.Contains(message(out), "own") {
			t.Fatalf("%s on oneself: %d %v", path, status, out)
		}
		if e := f.lastEvent(t); e.Action != shipgate.ActionAccessDenied || e.Actor != "admin" {
			t.Fatalf("self change not audited: %+v", e)
		}
	}
	if status, out := f.raw(t, "DELETE", "/api/v1/groups/release-managers/members/admin", f.tokens["admin"], nil); status != 403 {
		t.Fatalf("removing oneself: %d %v", status, out)
	}
	admin := f.client("admin")
	u, err := admin.SetUserRoles(ctx, "viewer", []shipgate.Role{"deployer", "viewer"})
	if err != nil || len(u.Roles) != 2 {
		t.Fatalf("set roles: %+v %v", u, err)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionUserRolesChanged || !strings.Contains(string(e.Details), `"roles_before":["viewer"]`) {
		t.Fatalf("set roles audit: %s", e.Details)
	}
	if _, err := admin.SetUserRoles(ctx, "viewer", nil); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("no roles: %v", err)
	}
	u, err = admin.RemoveGroupMember(ctx, "release-managers", "viewer")
	if err != nil || len(u.Groups) != 0 {
		t.Fatalf("remove: %+v %v", u, err)
	}
	if _, err := admin.RemoveGroupMember(ctx, "release-managers", "viewer"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("remove a non-member: %v", err)
	}
	f.addUser(t, "ops", []shipgate.Role{shipgate.RoleAdmin})
	if _, err := f.client("ops").DisableUser(ctx, "admin", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client("ops").SetUserRoles(ctx, "admin", []shipgate.Role{"viewer"}); err != nil {
		t.Fatalf("roles of a disabled admin: %v", err)
	}
	if _, err := f.client("admin").Whoami(ctx); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("disabled admin: %v", err)
	}

	// Admins may disable each other. (Through the API the caller is always
	// an enabled admin left behind; the store's own last-admin rule is
	// tested in the conformance suite.)
	f.addUser(t, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	f.addUser(t, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	ops := f.client("ops")
	if _, err := ops.EnableUser(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.SetUserRoles(ctx, "admin", []shipgate.Role{"admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client("admin").DisableUser(ctx, "ops", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client("ops").Whoami(ctx); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("ops after disable: %v", err)
	}

	// Disabling an approver of a queued release sends it back to waiting.
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(testutil.ServiceYAML)); err != nil {
		t.Fatal(err)
	}
	carol := f.client("carol")
	art := filepath.Join(t.TempDir(), "web.tar")
	os.WriteFile(art, []byte("web"), 0o644)
	stg, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	f.run(t, 0)
	if v, _ := carol.Release(ctx, stg.ID); v.State != shipgate.StateSucceeded {
		t.Fatalf("staging %s", v.State)
	}
	// One running in production holds the next one in the queue.
	first, _ := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "production", Version: "1", Artifact: art})
	if strings.Join(first.ApproverGroups["release-managers"], ",") != "admin,alice,bob,carol" {
		t.Fatalf("frozen approvers: %v", first.ApproverGroups)
	}
	if _, err := f.client("alice").Approve(ctx, first.ID, first.Digest, ""); err != nil {
		t.Fatal(err)
	}
	// The decision records which token made it and who created that token.
	if e := f.lastEvent(t); e.Action != shipgate.ActionReleaseApproved || !strings.Contains(string(e.Details), `"token_created_by":"test"`) || !strings.Contains(string(e.Details), `"token_id":`) {
		t.Fatalf("approval event: %s %s", e.Action, e.Details)
	}
	if _, err := f.client("bob").Approve(ctx, first.ID, first.Digest, ""); err != nil {
		t.Fatal(err)
	}
	second, _ := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "production", Version: "1", Artifact: art})
	for _, who := range []string{"alice", "bob"} {
		if _, err := f.client(who).Approve(ctx, second.ID, second.Digest, ""); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := carol.Release(ctx, second.ID); v.State != shipgate.StateQueued {
		t.Fatalf("second: %s %q", v.State, v.Reason)
	}
	if _, err := admin.DisableUser(ctx, "bob", "on leave"); err != nil {
		t.Fatal(err)
	}
	v, _ := carol.Release(ctx, second.ID)
	if v.State != shipgate.StatePendingApproval || !strings.Contains(v.Reason, "withdrawn") || v.Tally == nil || len(v.Tally.Approvers) != 1 {
		t.Fatalf("after bob was disabled: %s %q %+v", v.State, v.Reason, v.Tally)
	}
	var withdrawn int
	for _, a := range v.Approvals {
		if a.WithdrawnAt != nil && a.Actor == "bob" && strings.Contains(a.WithdrawnReason, "on leave") {
			withdrawn++
		}
	}
	if withdrawn != 1 {
		t.Fatalf("approvals: %+v", v.Approvals)
	}
}

package httpapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if status != 403 || !strings.Contains(message(out), "approver role") {
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

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const peopleService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: pay}
spec:
  environments:
    - name: production
      approvals: {required: 2, from_groups: [release-managers]}
  pipeline:
    jobs:
      - {name: deploy, steps: [{run: "true"}]}
`

// Findings 5 and 6 with the real binary: nobody grants themselves approval
// power, membership is frozen per release and shown, people are disabled
// and enabled, roles set, groups left, tokens expire within the server's
// maximum and are listed and revoked by their owners.
func TestPeopleLifecycle(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(cfg, []byte("tokens:\n  max_lifetime: 720h\n"), 0o600)
	s := startServerWith(t, []string{"--config", cfg})
	for _, u := range [][]string{
		{"carol", "--role", "deployer"},
		{"alice", "--role", "approver", "--group", "release-managers"},
		{"bob", "--role", "approver", "--group", "release-managers"},
		{"dave", "--role", "approver"},
	} {
		s.ok("admin", append([]string{"user", "create"}, u...)...)
		s.tokens[u[0]] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u[0]))
	}

	// Tokens: the maximum is the default and the limit.
	var tokens []struct {
		ID        int64
		User      string
		Name      string
		State     string
		ExpiresAt *time.Time `json:"expires_at"`
	}
	s.jsonOut(&tokens, "admin", "token", "list")
	if len(tokens) != 5 || tokens[0].Name != "bootstrap" || tokens[0].ExpiresAt == nil {
		t.Fatalf("tokens: %+v", tokens)
	}
	for _, tok := range tokens {
		if tok.ExpiresAt == nil || tok.ExpiresAt.After(time.Now().Add(720*time.Hour)) || tok.State != "active" {
			t.Fatalf("token %d of %s expires %v, state %s", tok.ID, tok.User, tok.ExpiresAt, tok.State)
		}
	}
	s.fails("maximum token lifetime of 720h0m0s", "admin", "token", "create", "--user", "alice", "--expires-in", "31d")
	s.fails("not a duration", "admin", "token", "create", "--user", "alice", "--expires-in", "soon")
	ci := strings.TrimSpace(s.ok("admin", "token", "create", "--user", "alice", "--name", "ci", "--expires-in", "2h"))
	s.jsonOut(&tokens, "alice", "token", "list")
	if len(tokens) != 2 || tokens[0].User != "alice" || tokens[1].Name != "ci" || tokens[1].ExpiresAt.After(time.Now().Add(2*time.Hour)) {
		t.Fatalf("alice's tokens: %+v", tokens)
	}
	if out := s.ok("alice", "token", "list"); !strings.Contains(out, "EXPIRES") || !strings.Contains(out, "active") {
		t.Fatalf("token list:\n%s", out)
	}
	s.fails("forbidden", "alice", "token", "list", "--user", "bob")
	s.fails("forbidden", "alice", "token", "revoke", fmt.Sprint(tokens[0].ID-1))
	s.tokens["alice-ci"] = ci
	s.ok("alice-ci", "token", "revoke", fmt.Sprint(tokens[1].ID))
	s.fails("unauthorized", "alice-ci", "whoami")

	// Nobody grants themselves approval power.
	s.fails("nobody changes their own", "admin", "group", "add", "release-managers", "--user", "admin")
	s.fails("nobody changes their own", "admin", "user", "set-roles", "admin", "--roles", "admin,approver")

	f := filepath.Join(s.workDir, "pay.yaml")
	os.WriteFile(f, []byte(peopleService), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "pay.tar"), []byte("pay"), 0o644)
	r := s.create("carol", "pay", "--env", "production", "--version", "1.0", "--artifact", "pay.tar")
	id := fmt.Sprint(r.ID)
	if out := s.ok("carol", "release", "show", id); !strings.Contains(out, "approvers: release-managers: alice, bob (members when the release was created)") {
		t.Fatalf("release show:\n%s", out)
	}
	var frozen struct {
		ApproverGroups map[string][]string `json:"approver_groups"`
	}
	s.jsonOut(&frozen, "carol", "release", "show", id)
	if strings.Join(frozen.ApproverGroups["release-managers"], ",") != "alice,bob" {
		t.Fatalf("approver_groups: %v", frozen.ApproverGroups)
	}
	// dave joins after the release was created: he cannot approve it.
	s.ok("admin", "group", "add", "release-managers", "--user", "dave")
	s.fails("joined later", "dave", "approve", id)

	// alice approves, then is disabled: her token stops at once and her
	// approval stops counting; enabling her does not bring it back.
	s.ok("alice", "approve", id)
	if got := s.show(r.ID); !strings.Contains(got.Reason, "1 of 2") {
		t.Fatalf("after alice: %q", got.Reason)
	}
	s.fails("nobody changes their own", "admin", "user", "disable", "admin")
	if out := s.ok("admin", "user", "disable", "alice", "--reason", "left the team"); !strings.Contains(out, "user alice disabled") {
		t.Fatalf("disable: %s", out)
	}
	s.fails("unauthorized", "alice", "whoami")
	if out := s.ok("admin", "release", "show", id); !strings.Contains(out, "withdrawn") || !strings.Contains(out, "alice was disabled by admin: left the team") || !strings.Contains(out, "0 of 2") {
		t.Fatalf("release show after the disable:\n%s", out)
	}
	if out := s.ok("admin", "user", "list"); !strings.Contains(out, "disabled") {
		t.Fatalf("user list:\n%s", out)
	}
	s.ok("admin", "user", "enable", "alice")
	s.ok("alice", "whoami")
	if got := s.show(r.ID); !strings.Contains(got.Reason, "0 of 2") {
		t.Fatalf("old approval came back: %q", got.Reason)
	}

	// Roles and groups: set-roles and group remove, audited before/after.
	var u struct {
		Roles  []string
		Groups []string
	}
	s.jsonOut(&u, "admin", "user", "set-roles", "bob", "--roles", "viewer,approver")
	if strings.Join(u.Roles, ",") != "approver,viewer" {
		t.Fatalf("set-roles: %+v", u)
	}
	s.jsonOut(&u, "admin", "group", "remove", "release-managers", "--user", "bob")
	if len(u.Groups) != 0 {
		t.Fatalf("group remove: %+v", u)
	}
	s.fails("not a member", "bob", "approve", id)
	audit := s.ok("admin", "audit", "list")
	for _, want := range []string{"user.roles_changed", `roles_before=["approver"]`, "group.member_removed", `groups_before=["release-managers"]`, "user.disabled", "approval.withdrawn", "user.enabled"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit list lacks %s:\n%s", want, audit)
		}
	}
	if out := s.ok("admin", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Fatal(out)
	}
}

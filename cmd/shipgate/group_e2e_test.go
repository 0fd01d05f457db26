package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A typo in from_groups is refused at apply with file:line and a
// suggestion; --allow-unknown-groups applies it with a warning; the last
// member of a group a policy names is removed only with --force.
func TestApplyUnknownGroupsE2E(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "alice", "--role", "approver", "--group", "release-managers")
	src := `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  environments:
    - name: production
      approvals:
        required: 1
        from_groups: [relase-managers]
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(src), 0o644)
	s.fails(`web.yaml:10: group "relase-managers" does not exist, so nobody could approve releases to production; did you mean "release-managers"?`, "admin", "apply", "-f", "web.yaml")
	s.fails(`service "web" does not exist`, "admin", "service", "show", "web")
	r := s.run("admin", "apply", "-f", "web.yaml", "--allow-unknown-groups")
	if r.code != 0 || !strings.Contains(r.stdout, "revision 1 applied") || !strings.Contains(r.stderr, `warning: web.yaml:10: group "relase-managers" does not exist`) {
		t.Fatalf("allowed: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(f, []byte(strings.Replace(src, "relase-", "release-", 1)), 0o644)
	s.ok("admin", "apply", "-f", "web.yaml")
	s.fails(`"alice" is the last member of group "release-managers", which the approval policies of web/production name`, "admin", "group", "remove", "release-managers", "--user", "alice")
	if out := s.ok("admin", "group", "remove", "release-managers", "--user", "alice", "--force"); !strings.Contains(out, "user alice is in groups: none") {
		t.Fatalf("forced: %s", out)
	}
}

// The only approver of a group a policy names cannot be disabled or lose
// the approver role without --force, and a typo next to an existing
// group names only the typo. Before, `user disable carol` and `user
// set-roles carol --roles deployer` exited 0 and left production
// impossible to approve.
func TestLastApproverGuardE2E(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "carol", "--role", "approver", "--group", "rm")
	src := `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  environments:
    - name: production
      approvals:
        required: 1
        from_groups: [rm, nosuch]
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(src), 0o644)
	r := s.fails(`web.yaml:10: group "nosuch" does not exist (no user is in it)`, "admin", "apply", "-f", "web.yaml")
	if strings.Contains(r.stderr, "nobody could approve") || !strings.Contains(r.stderr, `only members of "rm" can approve releases to production`) {
		t.Fatalf("a typo next to an existing group: %s", r.stderr)
	}
	os.WriteFile(f, []byte(strings.Replace(src, "[rm, nosuch]", "[rm]", 1)), 0o644)
	s.ok("admin", "apply", "-f", "web.yaml")
	want := `would leave group "rm" with no member who may approve (an enabled user with the approver role), and the approval policies of web/production take approvers from it`
	s.fails(`disabling "carol" `+want, "admin", "user", "disable", "carol")
	s.fails(`taking the approver role from "carol" `+want, "admin", "user", "set-roles", "carol", "--roles", "deployer")
	if out := s.ok("admin", "user", "disable", "carol", "--force", "--reason", "left"); !strings.Contains(out, "disabled") {
		t.Fatalf("forced: %s", out)
	}
	if out := s.ok("admin", "audit", "list", "-o", "json"); !strings.Contains(out, "group.emptied_in_use") || !strings.Contains(strings.ReplaceAll(out, " ", ""), `"change":"user.disabled"`) {
		t.Fatalf("the forced disable is not audited: %s", out)
	}
}

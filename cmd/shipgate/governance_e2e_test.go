package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
)

const governedService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  owner: web-team
  runbook: https://wiki.example.com/web/runbook
  environments:
    - name: stage
      approvals: {required: 0}
      checklist:
        - name: qa sign-off
          gate: start
          manual: {owner: qa, evidence: link required}
    - name: prod
      approvals: {required: 0}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploying $SHIPGATE_VERSION
`

// The done-when lines of checklists and freezes, with the built binary: a
// manual item ticked by a non-owner is refused; a freeze holds a release
// in queued and lets a rollback run; the override works only with the
// approval of another member of the override group.
func TestGovernanceChecklistAndFreezes(t *testing.T) {
	cfg := serverConfig(t, "freezes:\n  override_group: incident-commanders\n")
	s := startServerWith(t, []string{"--config", cfg})
	s.ok("admin", "user", "create", "carol", "--role", "deployer", "--group", "incident-commanders")
	s.ok("admin", "user", "create", "quinn", "--role", "viewer", "--group", "qa")
	s.ok("admin", "user", "create", "dave", "--role", "approver", "--group", "sre")
	s.ok("admin", "user", "create", "ian", "--role", "viewer", "--group", "incident-commanders")
	for _, u := range []string{"carol", "quinn", "dave", "ian"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(governedService), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)

	// A long checklist is applied with a warning at its line.
	var items strings.Builder
	for i := 0; i < 11; i++ {
		fmt.Fprintf(&items, "        - name: item %d\n          automated: {evidence: \"sbom present\"}\n", i)
	}
	long := strings.Replace(strings.Replace(governedService, "name: web", "name: big", 1), "      checklist:\n", "      checklist:\n"+items.String(), 1)
	lf := filepath.Join(s.workDir, "big.yaml")
	os.WriteFile(lf, []byte(long), 0o644)
	if res := s.run("admin", "apply", "-f", lf); res.code != 0 || !strings.Contains(res.stderr, "big.yaml:10: the checklist of stage has 12 items; more than 10") {
		t.Fatalf("long checklist: exit %d, stderr %q", res.code, res.stderr)
	}

	// Checklist: the start-gated manual item holds the release until a
	// member of qa ticks it with a link.
	r := s.create("carol", "web", "--env", "stage", "--version", "1.0", "--artifact", "a.tar")
	if got := s.show(r.ID); got.State != "queued" || !strings.Contains(got.Reason, "waiting for its checklist: qa sign-off") {
		t.Fatalf("not held by its checklist: %s: %s", got.State, got.Reason)
	}
	out := s.ok("carol", "release", "show", fmt.Sprint(r.ID))
	for _, want := range []string{"owner:     web-team", "runbook:   https://wiki.example.com/web/runbook", "✗ unmet  qa sign-off", "manual, owner qa"} {
		if !strings.Contains(out, want) {
			t.Fatalf("release show lacks %q:\n%s", want, out)
		}
	}
	res := s.fails("only a member of qa may tick \"qa sign-off\"; carol is not one", "carol", "checklist", "tick", fmt.Sprint(r.ID), "qa sign-off", "--link", "https://tickets.example.com/QA-1")
	if res.code == 0 {
		t.Fatal("refused tick exited 0")
	}
	s.fails("evidence link", "quinn", "checklist", "tick", fmt.Sprint(r.ID), "qa sign-off")
	if got := s.show(r.ID); got.State != "queued" {
		t.Fatalf("refused ticks moved it: %s", got.State)
	}
	s.ok("quinn", "checklist", "tick", fmt.Sprint(r.ID), "qa sign-off", "--link", "https://tickets.example.com/QA-1", "--comment", "smoke-tested")
	if out := s.ok("carol", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("ticked release: %s", out)
	}
	out = s.ok("carol", "release", "show", fmt.Sprint(r.ID))
	if !strings.Contains(out, "✓ holds  qa sign-off") || !strings.Contains(out, "ticked by quinn at") || !strings.Contains(out, "https://tickets.example.com/QA-1") || !strings.Contains(out, `"smoke-tested"`) {
		t.Fatalf("release show after the tick:\n%s", out)
	}

	// Freezes: two good releases in prod, then a freeze.
	for _, v := range []string{"1.0", "1.1"} {
		p := s.create("carol", "web", "--env", "prod", "--version", v, "--artifact", "a.tar")
		s.ok("carol", "release", "wait", fmt.Sprint(p.ID))
	}
	soon := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	s.fails("forbidden", "carol", "freeze", "create", "--env", "prod", "--from", "now", "--to", soon, "--reason", "x")
	s.fails("--env", "admin", "freeze", "create", "--from", "now", "--to", soon, "--reason", "x")
	s.fails("would hold nothing", "admin", "freeze", "create", "--env", "production", "--from", "now", "--to", soon, "--reason", "x")
	// A service that does not exist, or lacks the environment, is named
	// as such, not as "every environment of payments".
	s.fails(`service "payments" does not exist: the freeze would hold nothing`, "admin", "freeze", "create", "--all", "--service", "payments", "--from", "now", "--to", soon, "--reason", "x")
	s.fails(`service "web" has no environment "production": the freeze would hold nothing`, "admin", "freeze", "create", "--env", "production", "--service", "web", "--from", "now", "--to", soon, "--reason", "x")
	to := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	var fz struct {
		ID     int64  `json:"id"`
		Reason string `json:"reason"`
	}
	s.jsonOut(&fz, "admin", "freeze", "create", "--env", "prod", "--from", "now", "--to", to.Format(time.RFC3339), "--reason", "black friday")
	if out := s.ok("carol", "freeze", "list"); !strings.Contains(out, "environment prod") || !strings.Contains(out, "black friday") || !strings.Contains(out, "active") {
		t.Fatalf("freeze list:\n%s", out)
	}
	// A rollback is exempt: it runs through the freeze.
	out = s.ok("carol", "rollback", "web", "--env", "prod", "--reason", "1.1 is slow")
	if !strings.Contains(out, "restores web 1.0 in prod") {
		t.Fatalf("rollback: %s", out)
	}
	var list []releaseJSON
	s.jsonOut(&list, "carol", "release", "list", "--limit", "1")
	if out := s.ok("carol", "release", "wait", fmt.Sprint(list[0].ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("the rollback did not run through the freeze: %s", out)
	}
	// A release is created (and could be approved) but stays queued.
	held := s.create("carol", "web", "--env", "prod", "--version", "1.2", "--artifact", "a.tar")
	want := fmt.Sprintf("frozen until %s, black friday (freeze %d", to.Format(time.RFC3339), fz.ID)
	testutil.WaitFor(t, "the release to be held by the freeze", func() bool {
		got := s.show(held.ID)
		return got.State == "queued" && strings.Contains(got.Reason, want)
	})
	if got := s.show(held.ID); got.Run != 0 {
		t.Fatalf("a frozen release ran: %+v", got)
	}

	// The emergency override: asked with a reason, approved only by
	// another member of the override group.
	s.fails("reason", "carol", "freeze", "override", fmt.Sprint(held.ID))
	s.ok("carol", "freeze", "override", fmt.Sprint(held.ID), "--reason", "checkout is down")
	s.fails("carol requested this override and cannot approve it", "carol", "freeze", "approve-override", fmt.Sprint(held.ID))
	s.fails("only a member of incident-commanders may approve a freeze override; dave is not one", "dave", "freeze", "approve-override", fmt.Sprint(held.ID))
	if got := s.show(held.ID); got.State != "queued" {
		t.Fatalf("refused approvals let it start: %s", got.State)
	}
	s.ok("ian", "freeze", "approve-override", fmt.Sprint(held.ID))
	if out := s.ok("carol", "release", "wait", fmt.Sprint(held.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("overridden release: %s", out)
	}
	got := s.show(held.ID)
	var actions []string
	for _, e := range got.Timeline {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	tl := strings.Join(actions, " ")
	if !strings.Contains(tl, "carol:freeze.override_requested") || !strings.Contains(tl, "ian:freeze.override_approved") {
		t.Fatalf("timeline: %s", tl)
	}

	// Ending the freeze lets the next release start on its own.
	next := s.create("carol", "web", "--env", "prod", "--version", "1.3", "--artifact", "a.tar")
	if got := s.show(next.ID); !strings.Contains(got.Reason, "frozen until") {
		t.Fatalf("the override was for one release only: %s", got.Reason)
	}
	s.ok("admin", "freeze", "end", fmt.Sprint(fz.ID))
	if out := s.ok("carol", "release", "wait", fmt.Sprint(next.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("after the freeze ended: %s", out)
	}
	if out := s.ok("carol", "freeze", "list"); !strings.Contains(out, "no freezes") {
		t.Fatalf("freeze list after end:\n%s", out)
	}
	var all []struct {
		EndedBy string `json:"ended_by"`
	}
	s.jsonOut(&all, "carol", "freeze", "list", "--all")
	if len(all) != 1 || all[0].EndedBy != "admin" {
		t.Fatalf("freeze list --all: %+v", all)
	}
}

const coverageService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: api}
spec:
  environments:
    - name: prod
      approvals: {required: 1}
      checklist:
        - name: coverage
          automated: {evidence: "coverage.line_percent >= 80"}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploying
`

// istanbulSummary is an Istanbul json-summary with pct line coverage.
func istanbulSummary(pct int) string {
	return fmt.Sprintf(`{"total":{"lines":{"total":100,"covered":%d,"skipped":0,"pct":%d},"statements":{"total":100,"covered":%d,"skipped":0,"pct":%d},"functions":{"total":10,"covered":10,"skipped":0,"pct":100},"branches":{"total":10,"covered":10,"skipped":0,"pct":100}}}`, pct, pct, pct, pct)
}

// The done-when line: a coverage file at 75% blocks approval under a
// "coverage.line_percent >= 80" checklist item, and passes at 85%. Evidence
// is attached with `shipgate evidence add`.
func TestGovernanceCoverageGatesApproval(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "alice", "--role", "approver")
	s.tokens["alice"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "alice"))
	f := filepath.Join(s.workDir, "api.yaml")
	os.WriteFile(f, []byte(coverageService), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
	r := s.create("admin", "api", "--env", "prod", "--version", "1.0", "--artifact", "a.tar")
	cov := filepath.Join(s.workDir, "coverage-summary.json")
	os.WriteFile(cov, []byte(istanbulSummary(75)), 0o644)
	s.ok("admin", "evidence", "add", fmt.Sprint(r.ID), "--type", "coverage", "--file", cov)
	s.fails("cannot be approved yet: its checklist has unmet items: coverage (coverage.line_percent is 75, wanted >= 80)", "alice", "approve", fmt.Sprint(r.ID))
	if got := s.show(r.ID); got.State != "pending_approval" || len(got.Approvals) != 0 {
		t.Fatalf("a refused approval changed the release: %+v", got)
	}
	os.WriteFile(cov, []byte(istanbulSummary(85)), 0o644)
	s.ok("admin", "evidence", "add", fmt.Sprint(r.ID), "--type", "coverage", "--file", cov)
	s.ok("alice", "approve", fmt.Sprint(r.ID))
	if out := s.ok("admin", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("approved at 85%%: %s", out)
	}
}

const approveGatedService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: pay}
spec:
  owner: payments
  environments:
    - name: prod
      approvals: {required: 1}
      checklist:
        - name: change ticket
          manual: {owner: sre}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploying
`

// An approve-gated item refuses the approval with the list of unmet
// items, and changes nothing, until it holds.
func TestGovernanceApproveGate(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "alice", "--role", "approver")
	s.ok("admin", "user", "create", "sam", "--role", "viewer", "--group", "sre")
	for _, u := range []string{"alice", "sam"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}
	f := filepath.Join(s.workDir, "pay.yaml")
	os.WriteFile(f, []byte(approveGatedService), 0o644)
	s.ok("admin", "apply", "-f", f)
	if out := s.ok("alice", "service", "show", "pay"); !strings.Contains(out, "owner:     payments") || !strings.Contains(out, "checklist of 1 item(s)") {
		t.Fatalf("service show:\n%s", out)
	}
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
	r := s.create("admin", "pay", "--env", "prod", "--version", "1.0", "--artifact", "a.tar")
	res := s.fails("release 1 cannot be approved yet: its checklist has unmet items: change ticket (not ticked yet; a member of sre ticks it with an evidence link)", "alice", "approve", fmt.Sprint(r.ID))
	if res.code == 0 {
		t.Fatal("exit 0")
	}
	if got := s.show(r.ID); got.State != "pending_approval" || len(got.Approvals) != 0 {
		t.Fatalf("the refused approval changed the release: %+v", got)
	}
	s.ok("sam", "checklist", "tick", fmt.Sprint(r.ID), "change ticket", "--link", "https://tickets.example.com/CHG-9")
	s.ok("alice", "approve", fmt.Sprint(r.ID))
	if out := s.ok("admin", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("approved after the tick: %s", out)
	}
	got := s.show(r.ID)
	var tl []string
	for _, e := range got.Timeline {
		tl = append(tl, e.Actor+":"+e.Action)
	}
	if !strings.Contains(strings.Join(tl, " "), "sam:checklist.ticked") {
		t.Fatalf("the tick is not in the timeline: %v", tl)
	}
}

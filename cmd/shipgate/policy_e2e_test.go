package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

const policyService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  environments:
    - name: staging
      approvals: { required: 0 }
      policies: [ticket, hold]
    - name: gated
      approvals: { required: 1 }
      policies:
        - ticket
        - numeric
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploying $SHIPGATE_VERSION
`

const ticketPolicy = `package shipgate.ticket

# Every release names its change ticket.
deny contains msg if {
	not input.release.inputs.ticket
	msg := "a release needs a ticket input (--input ticket=CHG-123)"
}

warn contains msg if {
	input.release.inputs.ticket == "TBD"
	msg := "ticket is TBD: fill it in before production"
}
`

// holdPolicy denies only at start, while the release asks to be held.
const holdPolicy = `package shipgate.hold

deny contains msg if {
	input.point == "start"
	input.release.inputs.hold == "yes"
	msg := "held on purpose"
}
`

// numericPolicy fails at evaluation time on a ticket that is not a
// number: to_number errors, and errors block.
const numericPolicy = `package shipgate.numeric

deny contains msg if {
	to_number(input.release.inputs.ticket) < 0
	msg := "negative ticket"
}
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decisionsOf(t *testing.T, s *server, args ...string) []shipgate.PolicyDecision {
	t.Helper()
	var ds []shipgate.PolicyDecision
	s.jsonOut(&ds, "admin", append([]string{"policy", "decisions"}, args...)...)
	return ds
}

func TestPolicyGatesEndToEnd(t *testing.T) {
	s := startServer(t)
	dir := s.workDir
	writeFile(t, dir, "shop-1.0.tar", "shop build 1.0")
	svc := writeFile(t, dir, "shipgate.yaml", policyService)

	// A service file naming a policy that does not exist is refused at
	// the line naming it, and nothing is applied.
	r := s.fails(`policy "ticket" does not exist`, "admin", "apply", "-f", svc)
	if !strings.Contains(r.stderr, "shipgate.yaml:9") {
		t.Fatalf("refusal does not point at the line: %s", r.stderr)
	}
	s.fails("does not exist", "admin", "service", "show", "shop")

	// A policy that does not compile is refused with file:line.
	broken := writeFile(t, dir, "broken.rego", "package shipgate.broken\n\ndeny contains msg if {\n\tmsg := \n}\n")
	r = s.fails("broken.rego:5: rego_parse_error", "admin", "policy", "apply", "-f", broken)
	if r.code == 0 {
		t.Fatal("broken policy applied")
	}
	badPkg := writeFile(t, dir, "badpkg.rego", "package other.thing\n\ndeny := set()\n")
	s.fails("badpkg.rego:1: package is other.thing; a policy must be package shipgate.<name>", "admin", "policy", "apply", "-f", badPkg)
	if out := s.ok("admin", "policy", "list"); !strings.Contains(out, "no policies") {
		t.Fatalf("refused policies were stored: %s", out)
	}

	files := []string{writeFile(t, dir, "ticket.rego", ticketPolicy), writeFile(t, dir, "hold.rego", holdPolicy), writeFile(t, dir, "numeric.rego", numericPolicy)}
	out := s.ok("admin", "policy", "apply", "-f", files[0], "-f", files[1], "-f", files[2])
	for _, want := range []string{"policy ticket: revision 1 applied", "policy hold: revision 1 applied", "policy numeric: revision 1 applied"} {
		if !strings.Contains(out, want) {
			t.Fatalf("policy apply: %s; want %q", out, want)
		}
	}
	if out := s.ok("admin", "policy", "apply", "-f", files[0]); !strings.Contains(out, "policy ticket: unchanged (revision 1)") {
		t.Fatalf("re-apply: %s", out)
	}
	s.ok("admin", "apply", "-f", svc)
	// service show says which policies judge each environment.
	if out := s.ok("admin", "service", "show", "shop"); !strings.Contains(out, "environment staging: 0 approval(s), policies hold,ticket") || !strings.Contains(out, "environment gated: 1 approval(s), policies numeric,ticket") {
		t.Fatalf("service show does not name the policies:\n%s", out)
	}

	// create without a ticket: blocked with the policy's message, exit
	// non-zero, no release made, the decision recorded without one.
	r = s.fails("a release needs a ticket input (--input ticket=CHG-123)", "admin", "release", "create", "shop", "--env", "staging", "--version", "1.0", "--artifact", "shop-1.0.tar")
	if !strings.Contains(r.stderr, "denied by policy at create") || !strings.Contains(r.stderr, "shipgate policy replay") {
		t.Fatalf("refusal: %s", r.stderr)
	}
	if out := s.ok("admin", "release", "list"); strings.Contains(out, "1.0") {
		t.Fatalf("a refused create made a release: %s", out)
	}
	ds := decisionsOf(t, s, "--result", "deny")
	if len(ds) != 1 || ds[0].ReleaseID != 0 || ds[0].Point != "create" || ds[0].Actor != "admin" || len(ds[0].Deny) != 1 {
		t.Fatalf("deny decisions: %+v", ds)
	}
	denied := ds[0]
	var audit []shipgate.AuditEvent
	s.jsonOut(&audit, "admin", "audit", "list", "--limit", "0")
	linked := false
	for _, e := range audit {
		var d struct {
			Decision     int64  `json:"decision"`
			InputDigest  string `json:"input_digest"`
			BundleDigest string `json:"bundle_digest"`
		}
		json.Unmarshal(e.Details, &d)
		linked = linked || e.Action == shipgate.ActionPolicyDecided && e.Subject == "service/shop" &&
			d.Decision == denied.ID && d.InputDigest == denied.InputDigest && d.BundleDigest == denied.BundleDigest
	}
	if !linked {
		t.Fatalf("no policy.decided event linking decision %d into the chain", denied.ID)
	}
	s.ok("admin", "audit", "verify")

	// A warning is shown and recorded; the release is made.
	r = s.run("admin", "release", "create", "shop", "--env", "staging", "--version", "1.0", "--artifact", "shop-1.0.tar", "--input", "ticket=TBD", "--input", "hold=yes")
	if r.code != 0 || !strings.Contains(r.stderr, "ticket: ticket is TBD: fill it in before production") {
		t.Fatalf("create with a warning: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	warned := decisionsOf(t, s, "--point", "create", "--result", "allow")
	if len(warned) != 1 || warned[0].ReleaseID == 0 || len(warned[0].Warn) != 1 {
		t.Fatalf("warn decision: %+v", warned)
	}
	id := warned[0].ReleaseID

	// At start (in the create's own transaction, no approval needed) a
	// deny holds the release in queued with the reason shown, recorded
	// once however often it is looked at again.
	rel := s.show(id)
	if rel.State != "queued" || !strings.Contains(rel.Reason, "held in queued by policy") || !strings.Contains(rel.Reason, "hold: held on purpose") {
		t.Fatalf("held release: %s %q", rel.State, rel.Reason)
	}
	if out := s.ok("admin", "release", "show", fmt.Sprint(id)); !strings.Contains(out, "held on purpose") {
		t.Fatalf("release show does not say why it is held:\n%s", out)
	}
	// The policy changes: the release is judged again and starts.
	writeFile(t, dir, "hold.rego", strings.Replace(holdPolicy, `input.release.inputs.hold == "yes"`, `input.release.inputs.hold == "forever"`, 1))
	s.ok("admin", "policy", "apply", "-f", files[1])
	if out := s.ok("admin", "release", "wait", fmt.Sprint(id)); !strings.Contains(out, "succeeded") {
		t.Fatalf("release after the hold was lifted: %s", out)
	}
	starts := decisionsOf(t, s, "--release", fmt.Sprint(id), "--point", "start")
	if len(starts) != 2 || starts[0].Result != "deny" || starts[1].Result != "allow" || starts[0].BundleDigest == starts[1].BundleDigest {
		t.Fatalf("start decisions (one deny, recorded once, then one allow under the new bundle): %+v", starts)
	}
	// The source is printed as written, lines and tabs kept (not as one
	// line of \n and \t escapes).
	if out := s.ok("admin", "policy", "show", "hold", "--revision", "1"); !strings.Contains(out, "deny contains msg if {\n\tinput.point == \"start\"\n") {
		t.Fatalf("policy show --revision 1: %s", out)
	}

	// An evaluation error blocks (fail closed) with the error shown.
	r = s.fails("policy evaluation failed (fail closed)", "admin", "release", "create", "shop", "--env", "gated", "--version", "1.0", "--artifact", "shop-1.0.tar", "--input", "ticket=abc")
	if !strings.Contains(r.stderr, "numeric:") || !strings.Contains(r.stderr, "to_number") {
		t.Fatalf("evaluation error not shown: %s", r.stderr)
	}
	errs := decisionsOf(t, s, "--result", "error")
	if len(errs) != 1 || errs[0].Error == "" {
		t.Fatalf("error decisions: %+v", errs)
	}
	// With a number it passes, and approval is gated too.
	gated := s.create("admin", "shop", "--env", "gated", "--version", "1.0", "--artifact", "shop-1.0.tar", "--input", "ticket=42")
	if gated.State != "pending_approval" {
		t.Fatalf("gated release: %s", gated.State)
	}
	s.ok("admin", "user", "create", "alice", "--role", "approver")
	s.tokens["alice"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "alice"))
	s.ok("alice", "approve", fmt.Sprint(gated.ID))
	if ap := decisionsOf(t, s, "--release", fmt.Sprint(gated.ID), "--point", "approve"); len(ap) != 1 || ap[0].Actor != "alice" || ap[0].Result != "allow" {
		t.Fatalf("approve decisions: %+v", ap)
	}

	// Every decision replays byte for byte.
	for _, d := range decisionsOf(t, s) {
		if out := s.ok("admin", "policy", "replay", fmt.Sprint(d.ID)); !strings.Contains(out, "replay: identical") {
			t.Fatalf("replay %d: %s", d.ID, out)
		}
	}
	var rp client.PolicyReplay
	s.jsonOut(&rp, "admin", "policy", "replay", fmt.Sprint(denied.ID))
	if !rp.Match || rp.Recorded != rp.Replayed || !strings.Contains(rp.Recorded, "a release needs a ticket input") {
		t.Fatalf("replay -o json: %+v", rp)
	}
	s.fails("policy decision 9999 does not exist", "admin", "policy", "replay", "9999")

	// A dry run of a proposed policy over the past releases says what it
	// would have blocked, and records nothing.
	before := len(decisionsOf(t, s))
	proposed := t.TempDir()
	writeFile(t, proposed, "ticket.rego", strings.Replace(ticketPolicy, "not input.release.inputs.ticket", `not regex.match("^[0-9]+$", object.get(input.release.inputs, "ticket", ""))`, 1))
	out = s.ok("admin", "policy", "eval", "--releases", "1..100", "--point", "create", "--policy-dir", proposed)
	if !strings.Contains(out, "1 of 2 releases would have been blocked at create") || !strings.Contains(out, fmt.Sprintf("DENY    at create  release %d", id)) {
		t.Fatalf("policy eval:\n%s", out)
	}
	// A verdict of a dry run is no recorded decision: it has no id to
	// replay, so it does not say "decision 0".
	if strings.Contains(out, "decision 0") || !strings.Contains(out, "dry run  DENY") {
		t.Fatalf("policy eval labels its verdicts as decisions:\n%s", out)
	}
	var ev client.PolicyEvalResult
	s.jsonOut(&ev, "admin", "policy", "eval", "--release", fmt.Sprint(gated.ID), "--point", "approve")
	if ev.Blocked != 0 || len(ev.Results) != 1 || ev.Results[0].Result != "allow" {
		t.Fatalf("eval of the gated release under the current policies: %+v", ev)
	}
	s.ok("admin", "policy", "eval", "--since", "30d", "--point", "create")
	if after := len(decisionsOf(t, s)); after != before {
		t.Fatalf("a dry run recorded decisions: %d → %d", before, after)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ticket.rego", ticketPolicy)
	writeFile(t, dir, "ticket_test.rego", `package shipgate.ticket_test

import data.shipgate.ticket

test_needs_ticket if {
	count(ticket.deny) == 1 with input as {"release": {"inputs": {}}}
}

test_ticket_given if {
	count(ticket.deny) == 0 with input as {"release": {"inputs": {"ticket": "CHG-1"}}}
}
`)
	run := func(args ...string) result {
		cmd := exec.Command(binary, args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{code, out.String(), errb.String()}
	}
	if r := run("policy", "test", dir); r.code != 0 || !strings.Contains(r.stdout, "2 passed, 0 failed") {
		t.Fatalf("policy test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	writeFile(t, dir, "fail_test.rego", "package shipgate.ticket_test\n\ntest_wrong if {\n\tcount(data.shipgate.ticket.deny) == 5 with input as {\"release\": {\"inputs\": {}}}\n}\n")
	if r := run("policy", "test", dir); r.code == 0 || !strings.Contains(r.stdout, "FAIL  data.shipgate.ticket_test.test_wrong (") || !strings.Contains(r.stdout, "fail_test.rego:3") {
		t.Fatalf("failing policy test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestPolicyReplayHundreds records hundreds of decisions (allow, deny,
// warn with the clock, evaluation errors) under two versions of a policy
// and replays every one byte for byte after the policy changed.
func TestPolicyReplayHundreds(t *testing.T) {
	s := startServer(t)
	dir := s.workDir
	writeFile(t, dir, "a.tar", "build")
	v1 := `package shipgate.bulk

deny contains msg if {
	to_number(input.release.inputs.n) % 3 == 0
	msg := sprintf("%s is a multiple of 3", [input.release.inputs.n])
}

warn contains msg if {
	msg := sprintf("judged at %d", [time.now_ns()])
}
`
	v2 := `package shipgate.bulk

deny contains msg if {
	to_number(input.release.inputs.n) % 5 == 0
	msg := sprintf("%s is a multiple of 5 (at %s)", [input.release.inputs.n, input.time])
}

deny contains msg if {
	to_number(input.release.inputs.n) % 7 == 0
	msg := sprintf("%v", [1 / (to_number(input.release.inputs.n) % 7)])
}
`
	pf := writeFile(t, dir, "bulk.rego", v1)
	s.ok("admin", "policy", "apply", "-f", pf)
	svc := writeFile(t, dir, "svc.yaml", `apiVersion: shipgate/v1
kind: Service
metadata:
  name: bulk
spec:
  environments:
    - name: prod
      approvals: { required: 1 }
      policies: [bulk]
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: "true"
`)
	s.ok("admin", "apply", "-f", svc)
	c := client.New(s.url, s.admin)
	ctx := context.Background()
	const perVersion = 150
	outcomes := map[string]int{}
	for i := 1; i <= 2*perVersion; i++ {
		if i == perVersion+1 {
			writeFile(t, dir, "bulk.rego", v2)
			s.ok("admin", "policy", "apply", "-f", pf)
		}
		_, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "bulk", Environment: "prod", Version: fmt.Sprintf("1.%d", i),
			Artifact: filepath.Join(dir, "a.tar"), Inputs: map[string]string{"n": fmt.Sprint(i)}})
		outcomes[shipgate.ErrorCode(err)]++
	}
	var all []shipgate.PolicyDecision
	for after := int64(0); ; {
		page, err := c.PolicyDecisions(ctx, shipgate.PolicyDecisionFilter{AfterID: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if len(all) != 2*perVersion {
		t.Fatalf("%d decisions recorded for %d creates (%v)", len(all), 2*perVersion, outcomes)
	}
	results, bundles := map[string]int{}, map[string]bool{}
	for _, d := range all {
		results[d.Result]++
		bundles[d.BundleDigest] = true
		rp, err := c.ReplayPolicyDecision(ctx, d.ID)
		if err != nil {
			t.Fatalf("replay %d: %v", d.ID, err)
		}
		if !rp.Match || rp.Recorded != rp.Replayed {
			t.Fatalf("decision %d does not replay:\nrecorded %s\nreplayed %s", d.ID, rp.Recorded, rp.Replayed)
		}
	}
	if len(bundles) != 2 || results["allow"] == 0 || results["deny"] == 0 || results["error"] == 0 {
		t.Fatalf("want decisions of every kind under two bundles: %v, %d bundles", results, len(bundles))
	}
	if outcomes[""] != results["allow"] || outcomes[shipgate.EFAILEDPRECONDITION] != results["deny"]+results["error"] {
		t.Fatalf("what callers saw %v does not match the decisions %v", outcomes, results)
	}
	// And through the CLI, a few, with its exit code.
	for _, d := range []shipgate.PolicyDecision{all[0], all[perVersion+4], all[len(all)-1]} {
		if out := s.ok("admin", "policy", "replay", fmt.Sprint(d.ID)); !strings.Contains(out, "replay: identical") {
			t.Fatalf("replay %d: %s", d.ID, out)
		}
	}
	// The v1 warnings carry the clock of their decision (time.now_ns):
	// they replayed because replay runs at the recorded time.
	if w := all[0].Warn; len(w) != 1 || !strings.HasPrefix(w[0], "bulk: judged at ") {
		t.Fatalf("v1 warning: %q", w)
	}
}

// TestServePolicyDir: --policy-dir is loaded at start and wins over
// `policy apply`; a file that does not compile refuses the start with
// file:line, before anything is created.
func TestServePolicyDir(t *testing.T) {
	bad := t.TempDir()
	writeFile(t, bad, "ticket.rego", ticketPolicy)
	writeFile(t, bad, "oops.rego", "package shipgate.oops\n\ndeny contains msg if {\n\tmsg := undefined_thing(1)\n}\n")
	writeFile(t, bad, "oops_test.rego", "this is not looked at by serve")
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(binary, "serve", "--listen", freeAddr(t), "--data", data, "--policy-dir", bad)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--policy-dir: policy does not compile") || !strings.Contains(string(out), "oops.rego:4: rego_type_error: undefined function undefined_thing") {
		t.Fatalf("serve with a broken policy: %v\n%s", err, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a refused start created %s: %v", data, err)
	}

	good := t.TempDir()
	writeFile(t, good, "ticket.rego", ticketPolicy)
	s := startServerWith(t, []string{"--policy-dir", good})
	if out := s.ok("admin", "policy", "list"); !strings.Contains(out, "ticket") || !strings.Contains(out, "revision 1") || !strings.Contains(out, " dir ") {
		t.Fatalf("policy list: %s", out)
	}
	own := writeFile(t, s.workDir, "ticket.rego", strings.Replace(ticketPolicy, "CHG-123", "CHG-999", 1))
	s.fails(`policy "ticket" comes from the server's --policy-dir`, "admin", "policy", "apply", "-f", own)
	// Restarted with the same directory: no new revision.
	s.stop()
	s.start()
	var ps []shipgate.PolicyRevision
	s.jsonOut(&ps, "admin", "policy", "list")
	if len(ps) != 1 || ps[0].Revision != 1 || ps[0].Origin != "dir" || ps[0].AppliedBy != shipgate.SystemActor {
		t.Fatalf("after restart: %+v", ps)
	}
}

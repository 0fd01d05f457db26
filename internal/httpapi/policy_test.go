package httpapi_test

import (
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

const promotePolicy = `package shipgate.steps

# A person promoting a rollout step names the change ticket.
deny contains msg if {
	input.point == "promote"
	not contains(input.promote.comment, "CHG-")
	msg := sprintf("promoting %s step %d needs a CHG- ticket in the comment", [input.promote.rollouts[0].job, input.promote.rollouts[0].step])
}
`

// TestPolicyPromoteGate: a person's promote of a paused rollout step is
// judged at the promote point; a deny is a 412 with the policy's message
// and changes nothing.
func TestPolicyPromoteGate(t *testing.T) {
	f := newFixture(t)
	admin, carol := f.client("admin"), f.client("carol")
	if _, err := admin.ApplyPolicy(ctx, client.PolicyFile{Filename: "steps.rego", Source: promotePolicy}); err != nil {
		t.Fatal(err)
	}
	svc := strings.Replace(agentService, "ROLE", "web", 1)
	svc = strings.Replace(svc, "[{name: staging}]", "[{name: staging, policies: [steps]}]", 1)
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(svc)); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("artifact"), 0o644)
	v, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	ag := client.NewAgent(f.srv.URL, reg.Secret)
	asg, ok, err := ag.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: time.Second})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if _, err := ag.Rollout(ctx, "", asg.Key, rollout(1, shipgate.RolloutPaused, 1)); err != nil {
		t.Fatal(err)
	}
	before := f.count(t, shipgate.ActionRolloutPromoted)
	_, err = carol.Promote(ctx, v.ID, "looks fine")
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "denied by policy at promote: steps: promoting deploy step 1 needs a CHG- ticket in the comment") {
		t.Fatalf("promote without a ticket: %v", err)
	}
	if f.count(t, shipgate.ActionRolloutPromoted) != before {
		t.Fatal("a denied promote promoted")
	}
	if _, err := carol.Promote(ctx, v.ID, "CHG-9 dashboards green"); err != nil {
		t.Fatalf("promote with a ticket: %v", err)
	}
	ds, err := carol.PolicyDecisions(ctx, shipgate.PolicyDecisionFilter{ReleaseID: v.ID, Point: "promote"})
	if err != nil || len(ds) != 2 || ds[0].Result != "deny" || ds[1].Result != "allow" || ds[0].Actor != "carol" {
		t.Fatalf("promote decisions: %+v %v", ds, err)
	}
	full, err := carol.PolicyDecision(ctx, ds[1].ID)
	if err != nil || !strings.Contains(full.Input, `"promote":{"comment":"CHG-9 dashboards green","rollouts":[{"job":"deploy","step":1,"weight":20}]}`) {
		t.Fatalf("promote input: %v %s", err, full.Input)
	}
}

// TestPolicyAPIRefusals: bad input is refused with a clear message and
// changes nothing.
func TestPolicyAPIRefusals(t *testing.T) {
	f := newFixture(t)
	admin, viewer := f.client("admin"), f.client("viewer")
	if _, err := viewer.ApplyPolicy(ctx, client.PolicyFile{Source: promotePolicy}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("viewer applies a policy: %v", err)
	}
	for _, c := range []struct{ file, src, want string }{
		{"a.rego", "package shipgate.a\n\ndeny contains x if {\n\tx := nope(1)\n}\n", "a.rego:4: rego_type_error: undefined function nope"},
		{"b.rego", "package shipgate.b\n\ndeny contains x if {\n\tx := http.send({\"method\": \"get\", \"url\": \"http://x\"})\n}\n", "b.rego:4: rego_type_error: unsafe built-in function calls in expression: http.send"},
		{"c.rego", "package shipgate.Bad\n", `policy name "Bad" is not valid`},
		{"d.rego", "package shipgate.d.e\n", "d.rego:1: package is shipgate.d.e; a policy must be package shipgate.<name>"},
		{"e.rego", "", "e.rego:1: empty module"},
	} {
		_, err := admin.ApplyPolicy(ctx, client.PolicyFile{Filename: c.file, Source: c.src})
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("apply %s: %v; want %q", c.file, err, c.want)
		}
	}
	if ps, err := admin.Policies(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("refused policies stored: %+v %v", ps, err)
	}
	if _, err := admin.Policy(ctx, "steps", 0); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("show a missing policy: %v", err)
	}
	// A service naming a policy that does not exist: refused at its line.
	svc := strings.Replace(strings.Replace(agentService, "ROLE", "web", 1), "[{name: staging}]", "\n    - name: staging\n      policies: [steps]", 1)
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(svc)); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `svc.yaml:7`) || !strings.Contains(err.Error(), `policy "steps" does not exist`) {
		t.Fatalf("service naming a missing policy: %v", err)
	}
	if _, err := admin.PolicyDecisions(ctx, shipgate.PolicyDecisionFilter{Point: "deploy"}); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("bad point: %v", err)
	}
	if _, err := admin.ReplayPolicyDecision(ctx, 7); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("replay a missing decision: %v", err)
	}
	for _, c := range []struct {
		req  client.PolicyEvalRequest
		want string
	}{
		{client.PolicyEvalRequest{Point: "deploy", Releases: []int64{1}}, "point \"deploy\""},
		{client.PolicyEvalRequest{Point: "approve"}, "name the releases to judge in one way"},
		{client.PolicyEvalRequest{Point: "approve", Releases: []int64{1}, From: 1, To: 2}, "name the releases to judge in one way"},
		{client.PolicyEvalRequest{Point: "approve", From: 5, To: 2}, "release range 5..2 is not valid"},
		{client.PolicyEvalRequest{Point: "approve", From: 1, To: 5000}, "at most 1000 releases"},
		{client.PolicyEvalRequest{Point: "approve", Since: "yesterday"}, `since "yesterday"`},
		{client.PolicyEvalRequest{Point: "approve", Since: "2026-01-01T00:00:00Z", Proposed: []client.PolicyFile{{Filename: "x.rego", Source: "package shipgate.x\n\ndeny contains 1 if {\n"}}}, "x.rego:"},
	} {
		if _, err := admin.EvalPolicies(ctx, c.req); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eval %+v: %v; want %q", c.req, err, c.want)
		}
	}
	if _, err := admin.EvalPolicies(ctx, client.PolicyEvalRequest{Point: "approve", Releases: []int64{42}}); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("eval of a missing release: %v", err)
	}
	res, err := admin.EvalPolicies(ctx, client.PolicyEvalRequest{Point: "create", From: 1, To: 10})
	if err != nil || len(res.Results) != 0 || res.Blocked != 0 {
		t.Fatalf("eval over no releases: %+v %v", res, err)
	}
}

const fourEyesPolicy = `package shipgate.four_eyes

# People on leave do not approve production changes.
deny contains sprintf("%s is on leave and may not approve", [input.actor]) if {
	input.point == "approve"
	input.actor in {"dave"}
}
`

// TestPolicyApproveGate: an approve denied by a policy is a 412 with the
// policy's message; the approval is not recorded and the release stays
// pending; the decision is kept with the release and its approver.
func TestPolicyApproveGate(t *testing.T) {
	f := newFixture(t)
	admin, carol := f.client("admin"), f.client("carol")
	if _, err := admin.ApplyPolicy(ctx, client.PolicyFile{Filename: "four_eyes.rego", Source: fourEyesPolicy}); err != nil {
		t.Fatal(err)
	}
	svc := strings.Replace(gatedYAML, "        from_groups: [release-managers]", "        from_groups: [release-managers]\n      policies: [four_eyes]", 1)
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(svc)); err != nil {
		t.Fatal(err)
	}
	testutil.MustUser(t, f.db, "dave", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	secret := shipgate.NewTokenSecret()
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", "dave", "", secret); return err })
	f.tokens["dave"] = secret
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("artifact"), 0o644)
	v, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "production", Version: "1", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	status, body := f.raw(t, "POST", fmt.Sprintf("/api/v1/releases/%d/approve", v.ID), f.tokens["dave"], []byte(`{"digest":"`+v.Digest+`","comment":"checked"}`))
	e, _ := body["error"].(map[string]any)
	if status != 412 || e["code"] != shipgate.EFAILEDPRECONDITION || !strings.Contains(e["message"].(string), "denied by policy at approve: four_eyes: dave is on leave and may not approve") {
		t.Fatalf("approve denied by a policy: %d %v", status, body)
	}
	got, err := carol.Release(ctx, v.ID)
	if err != nil || got.State != shipgate.StatePendingApproval || len(got.Approvals) != 0 {
		t.Fatalf("after a denied approve: %s %+v %v", got.State, got.Approvals, err)
	}
	ds, err := carol.PolicyDecisions(ctx, shipgate.PolicyDecisionFilter{ReleaseID: v.ID, Point: "approve"})
	if err != nil || len(ds) != 1 || ds[0].Actor != "dave" || ds[0].Result != "deny" {
		t.Fatalf("approve decisions: %+v %v", ds, err)
	}
	// A reject is never gated.
	if _, err := f.client("dave").Reject(ctx, v.ID, v.Digest, "no"); err != nil {
		t.Fatalf("reject: %v", err)
	}
}

// TestPolicyEvalProposedNeedsServiceApply: a dry run of proposed policies
// runs Rego its caller wrote on the server, up to 10 s per release for
// 1000 releases; only those who may apply a policy may do that. Anyone
// who reads may dry-run the policies in force.
func TestPolicyEvalProposedNeedsServiceApply(t *testing.T) {
	f := newFixture(t)
	viewer := f.client("viewer")
	req := client.PolicyEvalRequest{Point: "create", From: 1, To: 10,
		Proposed: []client.PolicyFile{{Filename: "x.rego", Source: "package shipgate.x\n\ndeny contains \"x\" if { false }\n"}}}
	if _, err := viewer.EvalPolicies(ctx, req); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "service.apply") {
		t.Fatalf("viewer dry-runs a proposed policy: %v", err)
	}
	if _, err := f.client("admin").EvalPolicies(ctx, req); err != nil {
		t.Fatalf("admin dry-runs a proposed policy: %v", err)
	}
	req.Proposed = nil
	if _, err := viewer.EvalPolicies(ctx, req); err != nil {
		t.Fatalf("viewer dry-runs the policies in force: %v", err)
	}
}

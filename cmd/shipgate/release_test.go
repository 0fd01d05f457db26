package main

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// The approvers line of release show marks the release's creator, who is
// in the frozen group but may not approve unless the policy allows it.
func TestApproversLineMarksTheCreator(t *testing.T) {
	r := &shipgate.Release{}
	r.CreatedBy, r.ApproverGroups = "carol", map[string][]string{"release-managers": {"alice", "carol"}}
	r.Policy.Approvals = shipgate.ApprovalPolicy{Required: 1, FromGroups: []string{"release-managers"}}
	v := &client.ReleaseView{Release: r}
	if got := approversLine(v); !strings.Contains(got, "alice, carol (created it; cannot approve)") {
		t.Fatalf("approvers line %q", got)
	}
	r.Policy.Approvals.AllowSelfApproval = true
	if got := approversLine(v); strings.Contains(got, "cannot approve") {
		t.Fatalf("with self-approval allowed: %q", got)
	}
}

package shipgate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

func TestTallyApprovals(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	policy := shipgate.ApprovalPolicy{Required: 2}
	tests := []struct {
		name      string
		approvals []shipgate.Approval
		count     int
		satisfied bool
		next      *time.Time
		rejected  string
	}{
		{"none", nil, 0, false, nil, ""},
		{"one", []shipgate.Approval{{Actor: "a", Decision: "approve"}}, 1, false, nil, ""},
		{"same person twice counts once", []shipgate.Approval{{Actor: "a", Decision: "approve"}, {Actor: "a", Decision: "approve"}}, 1, false, nil, ""},
		{"two people", []shipgate.Approval{{Actor: "a", Decision: "approve"}, {Actor: "b", Decision: "approve"}}, 2, true, nil, ""},
		{"expired does not count", []shipgate.Approval{{Actor: "a", Decision: "approve", ExpiresAt: at(-time.Second)}, {Actor: "b", Decision: "approve", ExpiresAt: at(time.Hour)}}, 1, false, at(time.Hour), ""},
		{"expiry exactly now does not count", []shipgate.Approval{{Actor: "a", Decision: "approve", ExpiresAt: at(0)}}, 0, false, nil, ""},
		{"reject wins", []shipgate.Approval{{Actor: "a", Decision: "approve"}, {Actor: "b", Decision: "approve"}, {Actor: "c", Decision: "reject"}}, 2, false, nil, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shipgate.TallyApprovals(policy, tt.approvals, now)
			if len(got.Approvers) != tt.count || got.Satisfied != tt.satisfied || got.RejectedBy != tt.rejected {
				t.Fatalf("tally = %+v", got)
			}
			if (got.NextExpiry == nil) != (tt.next == nil) || got.NextExpiry != nil && !got.NextExpiry.Equal(*tt.next) {
				t.Fatalf("next expiry = %v, want %v", got.NextExpiry, tt.next)
			}
		})
	}
	if got := shipgate.TallyApprovals(shipgate.ApprovalPolicy{}, nil, now); !got.Satisfied {
		t.Fatal("required 0 must be satisfied with no approvals")
	}
}

func TestCheckApprover(t *testing.T) {
	r := &shipgate.Release{ID: 7, ReleaseContent: shipgate.ReleaseContent{Environment: "production", CreatedBy: "carol",
		Policy:         shipgate.Environment{Approvals: shipgate.ApprovalPolicy{Required: 2, FromGroups: []string{"rm"}}},
		ApproverGroups: map[string][]string{"rm": {"alice", "carol", "off", "vic"}}}}
	approver := []shipgate.Role{shipgate.RoleApprover}
	disabled := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		user     shipgate.User
		decision string
		errPart  string
	}{
		{shipgate.User{Name: "alice", Roles: approver, Groups: []string{"rm"}}, "approve", ""},
		{shipgate.User{Name: "carol", Roles: approver, Groups: []string{"rm"}}, "approve", "cannot approve it"},
		{shipgate.User{Name: "carol", Roles: approver, Groups: []string{"rm"}}, "reject", ""},
		{shipgate.User{Name: "dave", Roles: approver}, "approve", `only members of "rm"`},
		{shipgate.User{Name: "vic", Roles: []shipgate.Role{shipgate.RoleDeployer}, Groups: []string{"rm"}}, "approve", "needs the approver role"},
		// Admin never implies approve.
		{shipgate.User{Name: "root", Roles: []shipgate.Role{shipgate.RoleAdmin}, Groups: []string{"rm"}}, "approve", "needs the approver role"},
		// In the group now but not when the release was created.
		{shipgate.User{Name: "late", Roles: approver, Groups: []string{"rm"}}, "approve", "joined later"},
		{shipgate.User{Name: "late", Roles: approver, Groups: []string{"rm"}}, "reject", "joined later"},
		{shipgate.User{Name: "off", Roles: approver, Groups: []string{"rm"}, DisabledAt: &disabled}, "approve", "is disabled"},
	}
	for _, tt := range tests {
		err := shipgate.CheckApprover(r, &tt.user, tt.decision)
		if tt.errPart == "" && err != nil || tt.errPart != "" && (err == nil || !strings.Contains(err.Error(), tt.errPart) || shipgate.ErrorCode(err) != shipgate.EFORBIDDEN) {
			t.Errorf("%s %s: %v", tt.user.Name, tt.decision, err)
		}
	}
	// Admin never implies approve, also where no group is named.
	if shipgate.CheckApprover(r, &shipgate.User{Name: "alice", Roles: approver, Groups: []string{"other"}}, "approve") == nil {
		t.Error("a frozen member who left the group approved")
	}
	legacy := *r
	legacy.ApproverGroups = nil
	if err := shipgate.CheckApprover(&legacy, &shipgate.User{Name: "alice", Roles: approver, Groups: []string{"rm"}}, "approve"); err == nil {
		t.Error("a release without frozen membership admitted a group member (the store resolves those)")
	}
	open := &shipgate.Release{ID: 8, ReleaseContent: shipgate.ReleaseContent{Environment: "qa", CreatedBy: "carol",
		Policy: shipgate.Environment{Approvals: shipgate.ApprovalPolicy{Required: 1}}}}
	root := &shipgate.User{Name: "root", Roles: []shipgate.Role{shipgate.RoleAdmin}}
	if err := shipgate.CheckApprover(open, root, "approve"); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "needs the approver role") {
		t.Errorf("admin-only user approving: %v", err)
	}
	if root.Can(shipgate.PermApprove) {
		t.Error("the admin role grants release.approve")
	}
	self := *r
	self.Policy.Approvals.AllowSelfApproval = true
	if err := shipgate.CheckApprover(&self, &shipgate.User{Name: "carol", Roles: approver, Groups: []string{"rm"}}, "approve"); err != nil {
		t.Fatalf("allow_self_approval: %v", err)
	}
}

func TestTallyIgnoresWithdrawn(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	got := shipgate.TallyApprovals(shipgate.ApprovalPolicy{Required: 2}, []shipgate.Approval{
		{Actor: "a", Decision: "approve", WithdrawnAt: &now}, {Actor: "b", Decision: "approve"},
	}, now)
	if got.Satisfied || strings.Join(got.Approvers, ",") != "b" {
		t.Fatalf("tally = %+v", got)
	}
}

func TestFreezeApprovers(t *testing.T) {
	p := shipgate.ApprovalPolicy{Required: 1, FromGroups: []string{"rm", "empty"}}
	got := shipgate.FreezeApprovers(p, map[string][]string{"rm": {"bob", "alice", "bob"}, "other": {"x"}})
	if strings.Join(got["rm"], ",") != "alice,bob" || got["empty"] == nil || len(got) != 2 {
		t.Fatalf("frozen = %#v", got)
	}
	if shipgate.FreezeApprovers(shipgate.ApprovalPolicy{Required: 1}, nil) != nil {
		t.Fatal("a policy without groups froze something")
	}
}

func TestUnreachable(t *testing.T) {
	r := &shipgate.Release{ID: 3, ReleaseContent: shipgate.ReleaseContent{CreatedBy: "carol",
		Policy:         shipgate.Environment{Approvals: shipgate.ApprovalPolicy{Required: 2, FromGroups: []string{"rm", "sre"}}},
		ApproverGroups: map[string][]string{"rm": {"alice", "carol"}, "sre": {"alice"}}}}
	if got := r.Unreachable(); !strings.Contains(got, `only 1 of the members of "rm", "sre" when the release was created may approve it (alice)`) {
		t.Fatalf("unreachable = %q", got)
	}
	r.Policy.Approvals.AllowSelfApproval = true
	if got := r.Unreachable(); got != "" {
		t.Fatalf("alice and carol can approve: %q", got)
	}
	r.ApproverGroups = nil // legacy: nothing to go by
	r.Policy.Approvals.AllowSelfApproval = false
	if got := r.Unreachable(); got != "" {
		t.Fatalf("legacy: %q", got)
	}
}

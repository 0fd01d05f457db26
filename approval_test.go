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
		Policy: shipgate.Environment{Approvals: shipgate.ApprovalPolicy{Required: 2, FromGroups: []string{"rm"}}}}}
	approver := []shipgate.Role{shipgate.RoleApprover}
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
		{shipgate.User{Name: "root", Roles: []shipgate.Role{shipgate.RoleAdmin}}, "approve", `only members of "rm"`},
	}
	for _, tt := range tests {
		err := shipgate.CheckApprover(r, &tt.user, tt.decision)
		if tt.errPart == "" && err != nil || tt.errPart != "" && (err == nil || !strings.Contains(err.Error(), tt.errPart) || shipgate.ErrorCode(err) != shipgate.EFORBIDDEN) {
			t.Errorf("%s %s: %v", tt.user.Name, tt.decision, err)
		}
	}
	self := *r
	self.Policy.Approvals.AllowSelfApproval = true
	if err := shipgate.CheckApprover(&self, &shipgate.User{Name: "carol", Roles: approver, Groups: []string{"rm"}}, "approve"); err != nil {
		t.Fatalf("allow_self_approval: %v", err)
	}
}

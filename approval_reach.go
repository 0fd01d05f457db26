package shipgate

import (
	"fmt"
	"slices"
	"strings"
)

// A policy whose required approvals nobody can give makes releases wait
// forever. Neither apply nor create refuses it (members may be added, or
// roles granted, later), but both say so, naming who may approve and what
// to do: EligibleApprovers finds who may, ApprovalShortfall says it.

// EligibleApprovers returns, sorted, the users who may approve under p
// now: enabled, with the approver role, and in one of p's from_groups when
// it names any. creator, when given, is left out unless p allows
// self-approval (a release's creator may not approve it).
func EligibleApprovers(p ApprovalPolicy, users []*User, creator string) []string {
	var out []string
	for _, u := range users {
		if !u.Can(PermApprove) || (len(p.FromGroups) > 0 && !u.InAnyGroup(p.FromGroups)) {
			continue
		}
		if creator != "" && u.Name == creator && !p.AllowSelfApproval {
			continue
		}
		out = append(out, u.Name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ApprovalShortfall says, when fewer may approve than p requires, what is
// needed and who may give it, e.g. "needs 2 approvals from
// release-managers, which has 1 member who may approve (carol)"; ""
// otherwise. creator names a release's creator when it was left out of
// eligible because self-approval is not allowed.
func ApprovalShortfall(p ApprovalPolicy, eligible []string, creator string) string {
	if p.Required <= 0 || len(eligible) >= p.Required {
		return ""
	}
	approvals := "approvals"
	if p.Required == 1 {
		approvals = "approval"
	}
	who := "no"
	if n := len(eligible); n > 0 {
		who = fmt.Sprint(n)
	}
	var s string
	if len(p.FromGroups) > 0 {
		member := "member"
		if len(eligible) > 1 {
			member = "members"
		}
		s = fmt.Sprintf("needs %d %s from %s, which has %s %s who may approve", p.Required, approvals, strings.Join(p.FromGroups, " or "), who, member)
	} else {
		user := "user"
		if len(eligible) > 1 {
			user = "users"
		}
		s = fmt.Sprintf("needs %d %s, and %s %s may approve", p.Required, approvals, who, user)
	}
	if len(eligible) > 0 {
		s += " (" + strings.Join(eligible, ", ") + ")"
	}
	if creator != "" && !p.AllowSelfApproval {
		s += fmt.Sprintf("; %q created it and may not approve it", creator)
	}
	return s
}

// ApprovalShortfallFix says how to get more approvers under p.
func ApprovalShortfallFix(p ApprovalPolicy) string {
	if len(p.FromGroups) > 0 {
		return fmt.Sprintf("add members with `shipgate group add %s --user NAME` (each with the approver role, see `shipgate user set-roles`)", p.FromGroups[0])
	}
	return "give more users the approver role with `shipgate user set-roles`"
}

package shipgate

import (
	"encoding/json"
	"fmt"
	"time"
)

// Governed flag changes (issue 15): a person's change of a flag applies at
// once, or waits for the approvals its environment's flag_approvals
// require. Nobody approves their own change, ever. The kill switch never
// waits. These are the pure rules; internal/sqlstore/flag_govern.go
// applies them.

// Audit actions of governed flag changes beyond those of flag_state.go.
const (
	// ActionReleaseFlagsKilled is on a release's timeline when "flag kill
	// --release" turned off the flags it introduced (each flag's own
	// flag.killed event follows).
	ActionReleaseFlagsKilled = "release.flags_killed"
)

// CheckFlagReason refuses a missing, overlong or multi-line reason: every
// flag change says why.
func CheckFlagReason(reason string) error {
	if reason == "" {
		return Errorf(EINVALID, "a reason is required: say why the flag changes (--reason)")
	}
	return ValidateLine("the reason", reason, MaxFlagReasonLen)
}

// CloneFlag returns a deep copy of f, so a change can be made to the copy
// and compared with the original.
func CloneFlag(f *Flag) (*Flag, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	var out Flag
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FlagChangeTimedOut reports whether a pending change asked for at
// requested has expired under p at now (p's expires_after, when set).
func FlagChangeTimedOut(p *ApprovalPolicy, requested, now time.Time) bool {
	return p != nil && p.ExpiresAfter > 0 && !now.Before(requested.Add(time.Duration(p.ExpiresAfter)))
}

// CheckFlagApprover decides whether u may approve (or reject) pending
// change c under p, the flag_approvals of its environment now. It returns
// an EFORBIDDEN error that names the rule that refused, or nil. The
// requester may reject (withdraw) their own change, never approve it.
func CheckFlagApprover(c *FlagChange, p *ApprovalPolicy, u *User, decision string) error {
	if u.Disabled() {
		return Errorf(EFORBIDDEN, "user %q is disabled and may not %s flag changes", u.Name, decision)
	}
	if decision == DecisionApprove && u.Name == c.RequestedBy {
		return Errorf(EFORBIDDEN, "user %q asked for flag change %d and cannot approve it: flag changes are never self-approved; another approver must", u.Name, c.ID)
	}
	if decision == DecisionReject && u.Name == c.RequestedBy {
		return nil
	}
	if !u.Can(PermApprove) {
		return Errorf(EFORBIDDEN, "user %q may not %s flag changes: it needs the approver role", u.Name, decision)
	}
	if p != nil && len(p.FromGroups) > 0 && !u.InAnyGroup(p.FromGroups) {
		return Errorf(EFORBIDDEN, "only members of %s may %s flag changes in %s; user %q is not a member", quoteList(p.FromGroups), decision, c.Environment, u.Name)
	}
	return nil
}

// FlagAwaiting says who a pending change waits for: "needs 1 more approval
// (of 2) from release-managers: alice or bob may approve; olga asked for it
// and may not". eligible are the users who may approve it, the requester
// left out; have is the number of approvals it has.
func FlagAwaiting(p *ApprovalPolicy, eligible []string, have int, requester string) string {
	required := 0
	if p != nil {
		required = p.Required
	}
	left := required - have
	if left < 1 {
		left = 1
	}
	approvals := "approvals"
	if left == 1 {
		approvals = "approval"
	}
	s := fmt.Sprintf("needs %d more %s (of %d)", left, approvals, required)
	if p != nil && len(p.FromGroups) > 0 {
		s += " from members of " + quoteList(p.FromGroups)
	}
	switch len(eligible) {
	case 0:
		s += ": nobody may approve it now; " + ApprovalShortfallFix(*p)
	default:
		s += ": " + joinOr(eligible) + " may approve"
	}
	return s + fmt.Sprintf("; %s asked for it and may not approve it", requester)
}

func joinOr(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " or " + names[1]
	}
	s := ""
	for i, n := range names {
		switch {
		case i == len(names)-1:
			s += ", or " + n
		case i > 0:
			s += ", " + n
		default:
			s = n
		}
	}
	return s
}

// DroppedError is the error to report for a change that an approval or a
// rejection found superseded or expired (the store records it as such and
// commits, so the reply comes after): nil for any other state.
func (c *FlagChange) DroppedError() error {
	switch c.State {
	case FlagChangeSuperseded:
		return Errorf(ECONFLICT, "flag change %d was not applied: flag %q of %s in %s changed after it was asked for (it was at version %d); it is superseded — look at the flag again (shipgate flag show %s %s --env %s) and ask anew",
			c.ID, c.Key, c.Service, c.Environment, c.BaseVersion, c.Service, c.Key, c.Environment)
	case FlagChangeExpired:
		return Errorf(EFAILEDPRECONDITION, "flag change %d was not applied: it expired before it had the approvals %s requires; ask anew", c.ID, c.Environment)
	}
	return nil
}

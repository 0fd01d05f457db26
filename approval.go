package shipgate

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Decisions an approver can make.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// Approval is one decision by one person on one release digest.
type Approval struct {
	ID        int64      `json:"id"`
	ReleaseID int64      `json:"release_id"`
	Actor     string     `json:"actor"`
	Decision  string     `json:"decision"`
	Digest    string     `json:"digest"`
	Comment   string     `json:"comment,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// ExpiredAt is set once the expiry has been recorded in the audit log.
	ExpiredAt *time.Time `json:"expired_at,omitempty"`
	// WithdrawnAt is set when the approval stopped counting before its
	// expiry because its giver could no longer give it (disabled, removed
	// from the group, approver role taken away), with the reason. It does
	// not come back when the power does.
	WithdrawnAt     *time.Time `json:"withdrawn_at,omitempty"`
	WithdrawnReason string     `json:"withdrawn_reason,omitempty"`
}

// Counts reports whether an approve decision still counts at now.
func (a *Approval) Counts(now time.Time) bool {
	return a.Decision == DecisionApprove && a.WithdrawnAt == nil && (a.ExpiresAt == nil || now.Before(*a.ExpiresAt))
}

// CheckDecidable refuses a decision on a release that is not waiting for
// approval, naming its state. It is checked before CheckApprover, so that
// approving a rejected release says it is rejected, not who may approve.
func CheckDecidable(r *Release, decision string) error {
	if r.State == StatePendingApproval {
		return nil
	}
	verb := map[string]string{DecisionApprove: "approved", DecisionReject: "rejected"}[decision]
	return Errorf(EFAILEDPRECONDITION, "release %d is %s; only %s releases can be %s", r.ID, r.State, StatePendingApproval, verb)
}

// CheckApprover decides whether user may approve or reject r under the
// release's frozen approval policy. It returns an EFORBIDDEN error whose
// message says exactly which rule refused, or nil.
//
// With from_groups, the user must be a member of one of them now and have
// been one when the release was created (r.ApproverGroups): joining a
// group later never lets anyone decide a release that already exists, and
// leaving it takes the power away at once. A release whose ApproverGroups
// is nil while its policy names groups admits nobody through a group; the
// store fills it in for releases created before membership was frozen.
func CheckApprover(r *Release, u *User, decision string) error {
	p := r.Policy.Approvals
	if u.Disabled() {
		return Errorf(EFORBIDDEN, "user %q is disabled and may not %s releases", u.Name, decision)
	}
	if !u.Can(PermApprove) {
		return Errorf(EFORBIDDEN, "user %q may not %s releases: it needs the approver role%s", u.Name, decision, whoMay(r, decision))
	}
	if len(p.FromGroups) > 0 && !u.InAnyGroup(p.FromGroups) {
		return Errorf(EFORBIDDEN, "only members of %s may %s releases to %s; user %q is not a member", quoteList(p.FromGroups), decision, r.Environment, u.Name)
	}
	if len(p.FromGroups) > 0 && !r.FrozenMember(u) {
		return Errorf(EFORBIDDEN, "only those who were members of %s when release %d was created may %s it; user %q joined later", quoteList(p.FromGroups), r.ID, decision, u.Name)
	}
	if decision == DecisionApprove && u.Name == r.CreatedBy && !p.AllowSelfApproval {
		return Errorf(EFORBIDDEN, "user %q created release %d and cannot approve it: %s does not allow self-approval", u.Name, r.ID, r.Environment)
	}
	return nil
}

// whoMay says, for a refusal, who may decide r instead.
func whoMay(r *Release, decision string) string {
	if g := r.Policy.Approvals.FromGroups; len(g) > 0 {
		return fmt.Sprintf("; members of %s with the approver role may %s releases to %s", quoteList(g), decision, r.Environment)
	}
	return fmt.Sprintf("; any user with the approver role may %s releases to %s", decision, r.Environment)
}

// FrozenMember reports whether u is, now and when r was created, a member
// of one of the groups r's policy takes approvers from.
func (r *Release) FrozenMember(u *User) bool {
	for _, g := range r.Policy.Approvals.FromGroups {
		if slices.Contains(u.Groups, g) && slices.Contains(r.ApproverGroups[g], u.Name) {
			return true
		}
	}
	return false
}

// FreezeApprovers returns what ReleaseContent.ApproverGroups holds for a
// policy: each of its from_groups with the members given (enabled users
// in that group at creation), sorted; nil when the policy names no group.
func FreezeApprovers(p ApprovalPolicy, members map[string][]string) map[string][]string {
	if len(p.FromGroups) == 0 {
		return nil
	}
	out := make(map[string][]string, len(p.FromGroups))
	for _, g := range p.FromGroups {
		m := slices.Clone(members[g])
		if m == nil {
			m = []string{}
		}
		slices.Sort(m)
		out[g] = slices.Compact(m)
	}
	return out
}

// FrozenApprovers returns who may still approve r through its from_groups
// as far as the release itself knows: the members frozen at creation,
// without its creator unless self-approval is allowed. Roles, and whether
// they are still members and enabled, are checked when they decide. ok is
// false when the release has no frozen membership to go by (no
// from_groups, or created before membership was frozen).
func (r *Release) FrozenApprovers() (names []string, ok bool) {
	p := r.Policy.Approvals
	if len(p.FromGroups) == 0 || r.ApproverGroups == nil {
		return nil, false
	}
	for _, g := range p.FromGroups {
		for _, n := range r.ApproverGroups[g] {
			if (n != r.CreatedBy || p.AllowSelfApproval) && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return names, true
}

// Unreachable says, when fewer people were frozen into r than its policy
// requires, that waiting is pointless and what to do instead; "" otherwise.
func (r *Release) Unreachable() string {
	names, ok := r.FrozenApprovers()
	if !ok || len(names) >= r.Policy.Approvals.Required {
		return ""
	}
	return fmt.Sprintf("; only %d of the members of %s when the release was created may approve it (%s), fewer than required: cancel it and create a new release once the group has enough members",
		len(names), quoteList(r.Policy.Approvals.FromGroups), joinOrNone(names))
}

func joinOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// ApprovalTally is the state of a release's approvals at one moment.
type ApprovalTally struct {
	Required  int      `json:"required"`
	Approvers []string `json:"approvers"`
	Satisfied bool     `json:"satisfied"`
	// NextExpiry is when the earliest counting approval stops counting.
	NextExpiry *time.Time `json:"next_expiry,omitempty"`
	// Rejected names who rejected, if anyone did.
	RejectedBy string `json:"rejected_by,omitempty"`
}

// TallyApprovals counts distinct approvers whose approvals still count at
// now. Each approval was checked against the policy when it was given; the
// tally only applies expiry and distinctness.
func TallyApprovals(p ApprovalPolicy, approvals []Approval, now time.Time) ApprovalTally {
	t := ApprovalTally{Required: p.Required, Approvers: []string{}}
	seen := map[string]bool{}
	for i := range approvals {
		a := &approvals[i]
		if a.Decision == DecisionReject && t.RejectedBy == "" {
			t.RejectedBy = a.Actor
		}
		if !a.Counts(now) {
			continue
		}
		if a.ExpiresAt != nil && (t.NextExpiry == nil || a.ExpiresAt.Before(*t.NextExpiry)) {
			e := *a.ExpiresAt
			t.NextExpiry = &e
		}
		if !seen[a.Actor] {
			seen[a.Actor] = true
			t.Approvers = append(t.Approvers, a.Actor)
		}
	}
	sort.Strings(t.Approvers)
	t.Satisfied = t.RejectedBy == "" && len(t.Approvers) >= p.Required
	return t
}

// PendingReason says in a sentence what a pending release still needs.
func (t ApprovalTally) PendingReason(p ApprovalPolicy) string {
	from := ""
	if len(p.FromGroups) > 0 {
		from = " from " + quoteList(p.FromGroups)
	}
	return fmt.Sprintf("waiting for approval: %d of %d required approvals%s", len(t.Approvers), t.Required, from)
}

// AwaitsApprovalBy reports whether release r waits for u's approval now:
// it is pending, the rule the approve route enforces (CheckDecidable,
// then CheckApprover on view, r as the store sees its approvers) admits
// u, and none of u's approvals of it still counts at now. It is what a
// list of the releases "waiting for your approval" shows, so that list
// and the approve route never disagree.
func AwaitsApprovalBy(r, view *Release, approvals []Approval, u *User, now time.Time) bool {
	if CheckDecidable(r, DecisionApprove) != nil || CheckApprover(view, u, DecisionApprove) != nil {
		return false
	}
	for i := range approvals {
		a := &approvals[i]
		if a.Actor == u.Name && (a.Decision == DecisionReject || a.Counts(now)) {
			return false
		}
	}
	return true
}

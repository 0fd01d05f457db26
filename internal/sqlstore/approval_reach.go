package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/shipgate/shipgate"
)

// ReleaseApprovalWarning says, for a release just created that waits for
// approvals, when the people who may approve it now are fewer than its
// policy requires: who may, that it cannot be approved as things stand,
// and what to do. "" when it can be approved (or needs no approval). Who
// may approve a release taking approvers from groups is fixed at creation
// (members frozen then, still members with the approver role, not its
// creator unless self-approval is allowed).
func (tx *Tx) ReleaseApprovalWarning(ctx context.Context, r *shipgate.Release) (string, error) {
	p := r.Policy.Approvals
	if r.State != shipgate.StatePendingApproval || p.Required <= 0 || r.ApprovalSkipped != "" {
		return "", nil
	}
	users, err := tx.ListUsers(ctx)
	if err != nil {
		return "", err
	}
	eligible := shipgate.EligibleApprovers(p, users, r.CreatedBy)
	creator := ""
	if !p.AllowSelfApproval && slices.Contains(shipgate.EligibleApprovers(p, users, ""), r.CreatedBy) {
		creator = r.CreatedBy // say why the creator does not count
	}
	fix := shipgate.ApprovalShortfallFix(p)
	if frozen, ok := r.FrozenApprovers(); ok {
		eligible = slices.DeleteFunc(eligible, func(n string) bool { return !slices.Contains(frozen, n) })
		fix += "; members added now cannot approve this release (its approvers were fixed when it was created): cancel it and create a new one once they are in"
	}
	short := shipgate.ApprovalShortfall(p, eligible, creator)
	if short == "" {
		return "", nil
	}
	return fmt.Sprintf("release %d %s; it cannot be approved as things stand: %s", r.ID, short, fix), nil
}

// PolicyApprovalWarnings lists the environments of spec whose required
// approvals more people must be able to give than may approve now, at the
// path of approvals.required. Environments naming a group in skip (groups
// that do not exist, reported on their own) are left out.
func (tx *Tx) PolicyApprovalWarnings(ctx context.Context, spec *shipgate.ServiceSpec, skip []string) ([]shipgate.FieldError, error) {
	var users []*shipgate.User
	var out []shipgate.FieldError
	for i, e := range spec.Environments {
		p := e.Approvals
		if p.Required <= 0 || slices.ContainsFunc(p.FromGroups, func(g string) bool { return slices.Contains(skip, g) }) {
			continue
		}
		if users == nil {
			var err error
			if users, err = tx.ListUsers(ctx); err != nil {
				return nil, err
			}
		}
		short := shipgate.ApprovalShortfall(p, shipgate.EligibleApprovers(p, users, ""), "")
		if short == "" {
			continue
		}
		out = append(out, shipgate.FieldError{
			Path:    fmt.Sprintf("spec.environments[%d].approvals.required", i),
			Message: fmt.Sprintf("%s; releases to %s cannot be approved until more may: %s", short, e.Name, shipgate.ApprovalShortfallFix(p)),
		})
	}
	return out, nil
}

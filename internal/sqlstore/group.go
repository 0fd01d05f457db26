package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/shipgate/shipgate"
)

// CheckGroups returns the groups that spec's from_groups name but that
// have no members, and with them a *shipgate.ValidationError with a path
// per entry (for file:line); nil, nil when every group exists.
func (tx *Tx) CheckGroups(ctx context.Context, spec *shipgate.ServiceSpec) ([]string, error) {
	groups, err := tx.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	known := make([]string, len(groups))
	for i, g := range groups {
		known[i] = g.Name
	}
	problems := shipgate.UnknownGroups(spec, known)
	if problems == nil {
		return nil, nil
	}
	var missing []string
	for _, e := range spec.Environments {
		for _, g := range e.Approvals.FromGroups {
			if !slices.Contains(known, g) && !slices.Contains(missing, g) {
				missing = append(missing, g)
			}
		}
	}
	return missing, &shipgate.ValidationError{Problems: problems}
}

// AuditUnknownGroupsAllowed records that spec was applied as revision rev
// although the groups missing do not exist, because the applier said so.
func (tx *Tx) AuditUnknownGroupsAllowed(ctx context.Context, actor string, spec *shipgate.ServiceSpec, rev int, missing []string) error {
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionServiceUnknownGroupsAllowed, "service/"+spec.Name, map[string]any{
		"revision": rev, "groups": missing,
	}))
}

// ServicesNamingGroup returns the services, by name, whose current
// revision takes approvers from group.
func (tx *Tx) ServicesNamingGroup(ctx context.Context, group string) ([]string, error) {
	svcs, err := tx.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range svcs {
		if s.Spec.NamesGroup(group) {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

// RemoveGroupMemberGuarded is RemoveGroupMember that refuses to remove the
// last member of a group that services' current policies take approvers
// from, naming them: the group would stop existing and nobody could
// approve those environments. With force it removes them anyway and
// audits that the group was emptied while in use.
func (tx *Tx) RemoveGroupMemberGuarded(ctx context.Context, actor, group, user string, force bool) ([]int64, error) {
	members, err := tx.groupMembers(ctx, []string{group}, nil, false)
	if err != nil {
		return nil, err
	}
	var inUse []string
	if m := members[group]; len(m) == 1 && m[0] == user {
		if inUse, err = tx.ServicesNamingGroup(ctx, group); err != nil {
			return nil, err
		}
	}
	if len(inUse) > 0 && !force {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%q is the last member of group %q, which the approval policies of %s name: without members the group no longer exists and nobody could approve those releases; add someone else first, or remove with --force",
			user, group, strings.Join(inUse, ", "))
	}
	touched, err := tx.RemoveGroupMember(ctx, actor, group, user)
	if err != nil || len(inUse) == 0 {
		return touched, err
	}
	return touched, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionGroupEmptiedInUse, "group/"+group, map[string]any{
		"user": user, "services": inUse,
	}))
}

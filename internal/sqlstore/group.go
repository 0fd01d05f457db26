package sqlstore

import (
	"context"
	"fmt"
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
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionServiceUnknownGroupsAllowed, shipgate.ServiceSubject(spec.Name), map[string]any{
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

// policiesNamingGroup returns the service environments, as
// "service/environment", whose current policies take approvers from group.
func (tx *Tx) policiesNamingGroup(ctx context.Context, group string) (services, envs []string, err error) {
	svcs, err := tx.ListServices(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range svcs {
		named := false
		for _, e := range s.Spec.Environments {
			if slices.Contains(e.Approvals.FromGroups, group) {
				envs = append(envs, s.Name+"/"+e.Name)
				named = true
			}
		}
		if named {
			services = append(services, s.Name)
		}
	}
	return services, envs, nil
}

// otherApprovers counts the members of group besides user who may
// approve: enabled, with the approver role.
func (tx *Tx) otherApprovers(ctx context.Context, group, user string) (int, error) {
	rows, err := tx.query(ctx, `SELECT u.roles FROM group_members gm JOIN users u ON u.name = gm.user_name
		WHERE gm.group_name = ? AND gm.user_name <> ? AND u.disabled_at IS NULL`, group, user)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var roles string
		if err := rows.Scan(&roles); err != nil {
			return 0, err
		}
		if slices.Contains(parseRoles(roles), shipgate.RoleApprover) {
			n++
		}
	}
	return n, rows.Err()
}

// emptiedGroup is a group that a change to one user would leave without
// anyone who may approve, and the policies that name it.
type emptiedGroup struct {
	group          string
	services, envs []string
	noMembers      bool // the group would have no members at all
}

// groupsLeftWithoutApprover finds the groups that changing user from
// before to after (disabled, roles or groups changed) would leave with
// no member who may approve, or with no member at all, while current
// service policies take approvers from them. A group that had no approver
// before the change is not held against it, unless the change removes its
// last member (the group then stops existing).
func (tx *Tx) groupsLeftWithoutApprover(ctx context.Context, before, after *shipgate.User) ([]emptiedGroup, error) {
	mayApprove := func(u *shipgate.User, g string) bool {
		return !u.Disabled() && u.HasRole(shipgate.RoleApprover) && slices.Contains(u.Groups, g)
	}
	var out []emptiedGroup
	for _, g := range before.Groups {
		noMembers := false
		if !slices.Contains(after.Groups, g) {
			members, err := tx.groupMembers(ctx, []string{g}, nil, false)
			if err != nil {
				return nil, err
			}
			noMembers = len(members[g]) == 1
		}
		lost := false
		if mayApprove(before, g) && !mayApprove(after, g) {
			n, err := tx.otherApprovers(ctx, g, before.Name)
			if err != nil {
				return nil, err
			}
			lost = n == 0
		}
		if !noMembers && !lost {
			continue
		}
		services, envs, err := tx.policiesNamingGroup(ctx, g)
		if err != nil {
			return nil, err
		}
		if len(envs) > 0 {
			out = append(out, emptiedGroup{group: g, services: services, envs: envs, noMembers: noMembers})
		}
	}
	return out, nil
}

// guardApprovers refuses, unless force, a change to a user (what: e.g.
// `disabling "carol"`) that would leave groups current policies name
// without anyone who may approve, naming them and the service
// environments. It returns the groups so emptied, for auditEmptied.
func (tx *Tx) guardApprovers(ctx context.Context, what string, before, after *shipgate.User, force bool) ([]emptiedGroup, error) {
	emptied, err := tx.groupsLeftWithoutApprover(ctx, before, after)
	if err != nil || len(emptied) == 0 || force {
		return emptied, err
	}
	msgs := make([]string, len(emptied))
	for i, e := range emptied {
		if e.noMembers {
			msgs[i] = fmt.Sprintf("%q is the last member of group %q, which the approval policies of %s name: without members the group no longer exists",
				before.Name, e.group, strings.Join(e.envs, ", "))
		} else {
			msgs[i] = fmt.Sprintf("%s would leave group %q with no member who may approve (an enabled user with the approver role), and the approval policies of %s take approvers from it",
				what, e.group, strings.Join(e.envs, ", "))
		}
	}
	return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s; nobody could approve those releases through it. Give another member the approver role (or add an approver to the group) first, or repeat with --force",
		strings.Join(msgs, "; "))
}

// auditEmptied records, in the change's transaction, each group a forced
// change left without an approver.
func (tx *Tx) auditEmptied(ctx context.Context, actor, user, change string, emptied []emptiedGroup) error {
	for _, e := range emptied {
		if err := tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionGroupEmptiedInUse, shipgate.GroupSubject(e.group), map[string]any{
			"user": user, "change": change, "services": e.services, "environments": e.envs, "no_members": e.noMembers,
		})); err != nil {
			return err
		}
	}
	return nil
}

// RemoveGroupMemberGuarded is RemoveGroupMember that refuses to remove
// a member whose leaving would empty a group that services' current
// policies take approvers from, or leave it without a member who may
// approve, naming the services and environments: nobody could approve
// those releases through it. With force it removes them anyway and audits
// that the group was emptied while in use.
func (tx *Tx) RemoveGroupMemberGuarded(ctx context.Context, actor, group, user string, force bool) ([]int64, error) {
	return tx.removeGroupMember(ctx, actor, group, user, &approverGuard{force: force})
}

// DisableUserGuarded is DisableUser that refuses, unless force, to
// disable the only member who may approve of a group that current
// policies take approvers from (see RemoveGroupMemberGuarded).
func (tx *Tx) DisableUserGuarded(ctx context.Context, actor, user, reason string, force bool) ([]int64, error) {
	return tx.disableUser(ctx, actor, user, reason, &approverGuard{force: force})
}

// SetUserRolesGuarded is SetUserRoles that refuses, unless force, to take
// the approver role from the only member who may approve of a group that
// current policies take approvers from (see RemoveGroupMemberGuarded).
func (tx *Tx) SetUserRolesGuarded(ctx context.Context, actor, user string, roles []shipgate.Role, force bool) ([]int64, error) {
	return tx.setUserRoles(ctx, actor, user, roles, &approverGuard{force: force})
}

// approverGuard is the check the guarded changes of people make, inside
// the change, after its own checks and before its write: refuse (unless
// force) a change that leaves a group current policies take approvers
// from without a member who may approve, and audit, with force, the
// groups it left so. A nil guard checks nothing.
type approverGuard struct {
	force   bool
	emptied []emptiedGroup
}

func (g *approverGuard) check(ctx context.Context, tx *Tx, what string, before, after *shipgate.User) error {
	if g == nil {
		return nil
	}
	var err error
	g.emptied, err = tx.guardApprovers(ctx, what, before, after, g.force)
	return err
}

func (g *approverGuard) audit(ctx context.Context, tx *Tx, actor, user, change string) error {
	if g == nil {
		return nil
	}
	return tx.auditEmptied(ctx, actor, user, change, g.emptied)
}

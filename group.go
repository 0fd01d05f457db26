package shipgate

import (
	"fmt"
	"slices"
)

// Audit actions about the groups that approval policies name. A group
// exists while it has members; a policy naming one that does not can
// never be satisfied, so both ways of getting there are explicit and
// audited.
const (
	// ActionServiceUnknownGroupsAllowed records a service file applied,
	// on the applier's say-so, with from_groups naming groups that have no
	// members yet.
	ActionServiceUnknownGroupsAllowed = "service.unknown_groups_allowed"
	// ActionGroupEmptiedInUse records, with --force, the removal of the
	// last member of a group that services' current policies name.
	ActionGroupEmptiedInUse = "group.emptied_in_use"
)

// UnknownGroups returns a problem for each from_groups entry of spec that
// names no group in known, at its path in the file, suggesting the
// closest known group for a likely typo. Nobody could approve releases to
// such an environment until the group gets members, unless it names other
// groups that exist: the message then says only their members can.
func UnknownGroups(spec *ServiceSpec, known []string) []FieldError {
	var out []FieldError
	for i, e := range spec.Environments {
		for j, g := range e.Approvals.FromGroups {
			if slices.Contains(known, g) {
				continue
			}
			fix := "add its first member with"
			if best := Closest(g, known); best != "" {
				fix = fmt.Sprintf("did you mean %q? Otherwise add its first member with", best)
			}
			// Say what is wrong precisely: with another named group that
			// exists, its members can still approve; the unknown group only
			// adds nobody.
			var existing []string
			for _, o := range e.Approvals.FromGroups {
				if slices.Contains(known, o) && !slices.Contains(existing, o) {
					existing = append(existing, o)
				}
			}
			effect := ", so nobody could approve releases to " + e.Name
			if len(existing) > 0 {
				effect = fmt.Sprintf(" (no user is in it), so it adds no approvers: only members of %s can approve releases to %s", quoteList(existing), e.Name)
			}
			out = append(out, FieldError{
				Path: fmt.Sprintf("spec.environments[%d].approvals.from_groups[%d]", i, j),
				Message: fmt.Sprintf("group %q does not exist%s; %s `shipgate group add %s --user NAME`, or apply with --allow-unknown-groups",
					g, effect, fix, g),
			})
		}
	}
	return out
}

// NamesGroup reports whether any environment of spec takes approvers from
// group.
func (s *ServiceSpec) NamesGroup(group string) bool {
	for _, e := range s.Environments {
		if slices.Contains(e.Approvals.FromGroups, group) {
			return true
		}
	}
	return false
}

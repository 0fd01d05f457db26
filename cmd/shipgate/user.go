package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) userCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users (admin)"}
	var groups, roles []string
	create := &cobra.Command{
		Use:   "create NAME [--group G]… [--role R]…",
		Short: "Create a user; roles are viewer, deployer, approver, admin",
		Args:  oneArg("a user name", ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := parseRoles(roles)
			if err != nil {
				return err
			}
			u, err := m.client().CreateUser(cmd.Context(), args[0], rs, groups)
			if err != nil {
				return err
			}
			return m.renderUser(u, "created")
		},
	}
	create.Flags().StringArrayVar(&groups, "group", nil, "group to join (repeatable)")
	enumListFlag(create, &roles, "role", "role", roleNames(), "roles to hold (default viewer)")
	m.addOutputFlag(create)
	list := &cobra.Command{
		Use:   "list",
		Short: "List users and whether they are enabled",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			users, err := m.client().Users(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(users, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tROLES\tGROUPS\tSTATE\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, joinRoles(u.Roles), joinOrNone(u.Groups), userState(u), fmtTime(u.CreatedAt))
				}
				return tw.Flush()
			})
		},
	}
	m.addOutputFlag(list)
	var setRoles []string
	var setForce, disableForce bool
	set := &cobra.Command{
		Use:   "set-roles NAME --roles R[,R…] [--force]",
		Short: "Replace a user's roles (not your own); approvals they can no longer give are withdrawn",
		Long: `Replace a user's roles (not your own); approvals they can no longer give
are withdrawn.` + lastApproverGuard,
		Args: oneArg("a user name", "user list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := parseRoles(setRoles)
			if err != nil {
				return err
			}
			if len(rs) == 0 {
				return fmt.Errorf("--roles needs at least one role; to take all access away, use shipgate user disable")
			}
			u, err := m.client().SetUserRolesForce(cmd.Context(), args[0], rs, setForce)
			if err != nil {
				return err
			}
			return m.renderUser(u, "updated")
		},
	}
	enumListFlag(set, &setRoles, "roles", "role", roleNames(), "the roles to hold from now on (required)")
	set.Flags().BoolVar(&setForce, "force", false, "take the approver role even from the only member who may approve of a group approval policies name")
	set.MarkFlagRequired("roles")
	m.addOutputFlag(set)
	var reason string
	disable := &cobra.Command{
		Use:   "disable NAME [--reason TEXT] [--force]",
		Short: "Disable a user (not yourself): their tokens stop working at once and their pending approvals stop counting",
		Long: `Disable a user (not yourself): their tokens stop working at once and their
pending approvals stop counting.` + lastApproverGuard,
		Args: oneArg("a user name", "user list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := m.client().DisableUserForce(cmd.Context(), args[0], reason, disableForce)
			if err != nil {
				return err
			}
			return m.renderUser(u, "disabled")
		},
	}
	disable.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	disable.Flags().BoolVar(&disableForce, "force", false, "disable even the only member who may approve of a group approval policies name")
	m.addOutputFlag(disable)
	enable := &cobra.Command{
		Use:   "enable NAME",
		Short: "Enable a disabled user; approvals withdrawn while disabled stay withdrawn",
		Args:  oneArg("a user name", "user list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := m.client().EnableUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return m.renderUser(u, "enabled")
		},
	}
	m.addOutputFlag(enable)
	cmd.AddCommand(create, list, set, disable, enable)
	return cmd
}

func parseRoles(list []string) ([]shipgate.Role, error) {
	var rs []shipgate.Role
	for _, r := range list {
		role, err := shipgate.ParseRole(r)
		if err != nil {
			return nil, err
		}
		rs = append(rs, role)
	}
	return rs, nil
}

func (m *Main) renderUser(u *shipgate.User, what string) error {
	return m.render(u, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "user %s %s (roles: %s; groups: %s; %s)\n", u.Name, what, joinRoles(u.Roles), joinOrNone(u.Groups), userState(u))
		return err
	})
}

func userState(u *shipgate.User) string {
	if u.DisabledAt == nil {
		return "enabled"
	}
	return fmt.Sprintf("disabled %s by %s", fmtTime(*u.DisabledAt), u.DisabledBy)
}

func (m *Main) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens (create: admin; list and revoke: your own, admin: anyone's)"}
	var user, name, expiresIn string
	create := &cobra.Command{
		Use:   "create --user NAME [--expires-in D]",
		Short: "Create a token and print it; it is shown only this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := client.CreateTokenRequest{User: user, Name: name}
			if expiresIn != "" {
				d, err := shipgate.ParseDuration(expiresIn)
				if err != nil {
					return fmt.Errorf("--expires-in: %w", err)
				}
				req.ExpiresIn = d
			}
			t, err := m.client().IssueToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			return m.render(t, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, t.Secret)
				return err
			})
		},
	}
	create.Flags().StringVar(&user, "user", "", "owner of the token (required)")
	create.Flags().StringVar(&name, "name", "", "what the token is for")
	create.Flags().StringVar(&expiresIn, "expires-in", "", "how long the token works, e.g. 720h or 30d (default: the server's tokens.max_lifetime, or never)")
	create.MarkFlagRequired("user")
	m.addOutputFlag(create)
	list := &cobra.Command{
		Use:   "list [--user NAME]",
		Short: "List tokens with their expiry and state (never their secrets): your own; an admin sees everyone's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := m.client().Tokens(cmd.Context(), user)
			if err != nil {
				return err
			}
			return m.render(ts, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tUSER\tNAME\tPREFIX\tSTATE\tCREATED\tEXPIRES\tLAST USED")
				for _, t := range ts {
					expires := "never"
					if t.ExpiresAt != nil {
						expires = fmtTime(*t.ExpiresAt)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Name, t.Prefix, tokenState(t), fmtTime(t.CreatedAt), expires, fmtTimePtr(t.LastUsedAt))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&user, "user", "", "only this user's tokens (admin)")
	m.addOutputFlag(list)
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: your own; an admin revokes anyone's",
		Args:  oneArg("a token ID", "token list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a token id", args[0])
			}
			if err := m.client().RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			return m.render(map[string]int64{"revoked": id}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "token %d revoked\n", id)
				return err
			})
		},
	}
	m.addOutputFlag(revoke)
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func tokenState(t shipgate.Token) string {
	if t.State == shipgate.TokenRevoked && t.RevokedAt != nil {
		return "revoked " + fmtTime(*t.RevokedAt)
	}
	return string(t.State)
}

func (m *Main) groupCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage groups (approval policies name them)"}
	var user string
	add := &cobra.Command{
		Use:   "add NAME --user U",
		Short: "Add a user (not yourself) to a group, creating the group; it counts for releases created from now on",
		Args:  oneArg("a group name", "group list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := m.client().AddGroupMember(cmd.Context(), args[0], user)
			if err != nil {
				return err
			}
			return m.render(u, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "user %s is in groups: %s\n", u.Name, joinOrNone(u.Groups))
				return err
			})
		},
	}
	add.Flags().StringVar(&user, "user", "", "user to add (required)")
	add.MarkFlagRequired("user")
	m.addOutputFlag(add)
	var force bool
	remove := &cobra.Command{
		Use:   "remove NAME --user U",
		Short: "Take a user (not yourself) out of a group; their approvals that no longer hold are withdrawn",
		Long: `Take a user (not yourself) out of a group; their approvals that no longer
hold are withdrawn.

A group exists while it has members. Removing the last member of a group
that a service's approval policy names (from_groups), or its only member
who may approve (enabled, with the approver role), is refused, naming the
services and environments, since nobody in it could approve their
releases; --force removes them anyway (audited as group.emptied_in_use).`,
		Args: oneArg("a group name", "group list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := m.client().RemoveGroupMemberForce(cmd.Context(), args[0], user, force)
			if err != nil {
				return err
			}
			return m.render(u, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "user %s is in groups: %s\n", u.Name, joinOrNone(u.Groups))
				return err
			})
		},
	}
	remove.Flags().StringVar(&user, "user", "", "user to remove (required)")
	remove.Flags().BoolVar(&force, "force", false, "remove the last member, or the only one who may approve, even if approval policies name the group")
	remove.MarkFlagRequired("user")
	m.addOutputFlag(remove)
	list := &cobra.Command{
		Use:   "list",
		Short: "List groups and members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			gs, err := m.client().Groups(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(gs, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GROUP\tMEMBERS")
				for _, g := range gs {
					fmt.Fprintf(tw, "%s\t%s\n", g.Name, joinOrNone(g.Members))
				}
				return tw.Flush()
			})
		},
	}
	m.addOutputFlag(list)
	cmd.AddCommand(add, remove, list)
	return cmd
}

// lastApproverGuard is the help paragraph of the commands that can take the
// last member who may approve out of a group policies name.
const lastApproverGuard = `

A group that a service's approval policy names (from_groups) needs a
member who may approve (enabled, with the approver role). Leaving such a
group without one is refused (412), naming the services and environments,
since nobody in it could approve their releases; --force does it anyway
(audited as group.emptied_in_use).`

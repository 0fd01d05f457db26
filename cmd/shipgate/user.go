package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/shipgate/shipgate"
	"github.com/spf13/cobra"
)

func (m *Main) userCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users (admin)"}
	var groups, roles []string
	create := &cobra.Command{
		Use:   "create NAME [--group G]… [--role R]…",
		Short: "Create a user; roles are viewer, deployer, approver, admin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rs []shipgate.Role
			for _, r := range roles {
				role, err := shipgate.ParseRole(r)
				if err != nil {
					return err
				}
				rs = append(rs, role)
			}
			u, err := m.client().CreateUser(cmd.Context(), args[0], rs, groups)
			if err != nil {
				return err
			}
			return m.render(u, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "user %s created (roles: %s; groups: %s)\n", u.Name, joinRoles(u.Roles), joinOrNone(u.Groups))
				return err
			})
		},
	}
	create.Flags().StringArrayVar(&groups, "group", nil, "group to join (repeatable)")
	create.Flags().StringArrayVar(&roles, "role", nil, "role to hold (repeatable; default viewer)")
	m.addOutputFlag(create)
	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			users, err := m.client().Users(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(users, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tROLES\tGROUPS\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, joinRoles(u.Roles), joinOrNone(u.Groups), fmtTime(u.CreatedAt))
				}
				return tw.Flush()
			})
		},
	}
	m.addOutputFlag(list)
	cmd.AddCommand(create, list)
	return cmd
}

func (m *Main) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens (admin)"}
	var user, name string
	create := &cobra.Command{
		Use:   "create --user NAME",
		Short: "Create a token and print it; it is shown only this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := m.client().CreateToken(cmd.Context(), user, name)
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
	create.MarkFlagRequired("user")
	m.addOutputFlag(create)
	list := &cobra.Command{
		Use:   "list [--user NAME]",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := m.client().Tokens(cmd.Context(), user)
			if err != nil {
				return err
			}
			return m.render(ts, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tUSER\tNAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
				for _, t := range ts {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\n", t.ID, t.User, t.Name, t.Prefix, fmtTime(t.CreatedAt), fmtTimePtr(t.LastUsedAt), fmtTimePtr(t.RevokedAt))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&user, "user", "", "only this user's tokens")
	m.addOutputFlag(list)
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a token id", args[0])
			}
			if err := m.client().RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "token %d revoked\n", id)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func (m *Main) groupCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage groups (approval policies name them)"}
	var user string
	add := &cobra.Command{
		Use:   "add NAME --user U",
		Short: "Add a user to a group, creating the group",
		Args:  cobra.ExactArgs(1),
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
	cmd.AddCommand(add, list)
	return cmd
}

package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) freezeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "freeze", Short: "Freeze environments: releases are created and approved but do not start"}
	var req client.FreezeRequest
	var from, to string
	create := &cobra.Command{
		Use:   "create --env ENV|--all [--service S] --from TIME --to TIME --reason TEXT",
		Short: "Freeze an environment (or all) from one time to another",
		Long: `Create a freeze. While it lasts, releases of the frozen environments may be
created and approved but stay queued, "frozen until <to>, <reason>"; they
start when it ends (or is ended). Rollback releases are exempt. TIME is
RFC 3339 (2026-12-20T00:00:00Z) or "now". An emergency exception for one
release: "freeze override RELEASE --reason R", approved by a member of the
server's override group (freezes.override_group) other than the requester.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if req.From, err = parseFreezeTime("--from", from); err != nil {
				return err
			}
			if req.To, err = parseFreezeTime("--to", to); err != nil {
				return err
			}
			f, err := m.client().CreateFreeze(cmd.Context(), req)
			if err != nil {
				return err
			}
			return m.render(f, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "freeze %d: %s frozen from %s until %s: %s\n", f.ID, f.Scope(), fmtTime(f.From), fmtTime(f.To), f.Reason)
				return err
			})
		},
	}
	create.Flags().StringVar(&req.Environment, "env", "", "environment to freeze")
	create.Flags().BoolVar(&req.All, "all", false, "freeze every environment")
	create.Flags().StringVar(&req.Service, "service", "", "freeze only this service (default: every service)")
	create.Flags().StringVar(&from, "from", "", "when the freeze starts (RFC 3339, or now)")
	create.Flags().StringVar(&to, "to", "", "when the freeze ends (RFC 3339)")
	create.Flags().StringVar(&req.Reason, "reason", "", "why (shown on every release it holds; required)")
	m.addOutputFlag(create)

	var all bool
	list := &cobra.Command{
		Use:   "list [--all]",
		Short: "List current and future freezes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, err := m.client().ListFreezes(cmd.Context(), all)
			if err != nil {
				return err
			}
			return m.render(fs, func(w io.Writer) error {
				if len(fs) == 0 {
					_, err := fmt.Fprintln(w, "no freezes")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSCOPE\tFROM\tTO\tBY\tSTATUS\tREASON")
				for _, f := range fs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.Scope(), fmtTime(f.From), fmtTime(f.To), f.CreatedBy, freezeStatus(f), f.Reason)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "also list ended and past freezes")
	m.addOutputFlag(list)

	end := &cobra.Command{
		Use:   "end ID",
		Short: "End a freeze now; the releases it held start",
		Args:  oneArg("a freeze ID", "freeze list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			f, err := m.client().EndFreeze(cmd.Context(), id)
			if err != nil {
				return err
			}
			return m.render(f, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "freeze %d of %s ended\n", f.ID, f.Scope())
				return err
			})
		},
	}
	m.addOutputFlag(end)

	var reason string
	override := &cobra.Command{
		Use:   "override RELEASE --reason TEXT",
		Short: "Ask for an emergency override: the release may start through the freeze once a member of the override group approves",
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			v, err := m.client().RequestFreezeOverride(cmd.Context(), id, reason)
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "override of release %d requested; a member of the override group other than you approves it with `shipgate freeze approve-override %d`\n", v.ID, v.ID)
				return err
			})
		},
	}
	override.Flags().StringVar(&reason, "reason", "", "why the release cannot wait (required; audited)")
	m.addOutputFlag(override)

	approve := &cobra.Command{
		Use:   "approve-override RELEASE",
		Short: "Approve a release's freeze override (members of the override group, not the requester)",
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			v, err := m.client().ApproveFreezeOverride(cmd.Context(), id)
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "override of release %d approved: %s\n", v.ID, stateLine(v.Release))
				return err
			})
		},
	}
	m.addOutputFlag(approve)
	cmd.AddCommand(create, list, end, override, approve)
	return cmd
}

func parseFreezeTime(flag, s string) (time.Time, error) {
	switch s {
	case "":
		return time.Time{}, fmt.Errorf("freeze create needs %s", flag)
	case "now":
		return time.Now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not a time: use RFC 3339, such as 2026-12-20T00:00:00Z, or now", flag, s)
	}
	return t, nil
}

func freezeStatus(f shipgate.Freeze) string {
	now := time.Now()
	switch {
	case f.EndedAt != nil:
		return "ended by " + f.EndedBy
	case !now.Before(f.To):
		return "over"
	case now.Before(f.From):
		return "upcoming"
	}
	return "active"
}

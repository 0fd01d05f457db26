package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/webui"
	"github.com/spf13/cobra"
)

// maxFlagFile bounds the file `flag set --file` reads.
const maxFlagFile = 1 << 20

func (m *Main) flagCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "flag", Short: "Feature flags: list, show, change (governed by flag_approvals), kill, approve"}
	cmd.AddCommand(m.flagListCommand(), m.flagShowCommand(), m.flagSetCommand(),
		m.flagToggleCommand(shipgate.FlagOpEnable, "Turn a disabled (killed) flag back on: its rules decide again"),
		m.flagToggleCommand(shipgate.FlagOpDisable, "Switch a flag to its safe variant for everyone (a governed change; in an incident use kill)"),
		m.flagRolloutCommand(), m.flagKillCommand(), m.flagChangesCommand(),
		m.flagDecideCommand(shipgate.DecisionApprove), m.flagDecideCommand(shipgate.DecisionReject))
	return cmd
}

// serviceAndFlag is the Args of commands on one flag: SERVICE FLAG.
func serviceAndFlag(cmd *cobra.Command, args []string) error {
	if len(args) == 2 {
		return nil
	}
	name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return fmt.Errorf("%s needs a service and a flag: %s SERVICE FLAG --env ENV (see `%s flag list`)", name, name, cmd.Root().Name())
}

func (m *Main) flagListCommand() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "list [SERVICE] [--env ENV]",
		Short: "List the live flags and what each serves",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := ""
			if len(args) == 1 {
				service = args[0]
			}
			fs, err := m.client().ListFlags(cmd.Context(), service, env)
			if err != nil {
				return err
			}
			// The newest changes tell a kill from a planned disable, as on
			// the web UI's flags page.
			recent, err := m.client().ListFlagChanges(cmd.Context(), client.FlagChangeQuery{Service: service, Environment: env})
			if err != nil {
				return err
			}
			last := lastAppliedChanges(recent)
			return m.render(fs, func(w io.Writer) error {
				if len(fs) == 0 {
					_, err := fmt.Fprintln(w, "no flags")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tENV\tFLAG\tTYPE\tSTATE\tVERSION\tUPDATED BY")
				for _, s := range fs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Service, s.Environment, s.Flag.Key, s.Flag.Type, webui.FlagStateWords(&s.Flag, last[[3]string{s.Service, s.Environment, s.Flag.Key}]), s.Version, s.UpdatedBy)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment's flags")
	m.addOutputFlag(cmd)
	return cmd
}

// lastAppliedChanges is each flag's newest applied change among cs
// (newest first), by service, environment and key.
func lastAppliedChanges(cs []shipgate.FlagChange) map[[3]string]*shipgate.FlagChange {
	last := map[[3]string]*shipgate.FlagChange{}
	for i := range cs {
		k := [3]string{cs[i].Service, cs[i].Environment, cs[i].Key}
		if _, ok := last[k]; !ok && cs[i].State == shipgate.FlagChangeApplied {
			last[k] = &cs[i]
		}
	}
	return last
}

func (m *Main) flagShowCommand() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "show SERVICE FLAG --env ENV",
		Short: "Show a flag: its state and targeting in words, its recent and pending changes",
		Args:  serviceAndFlag,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := m.client().Flag(cmd.Context(), args[0], env, args[1])
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error { return writeFlagView(w, v) })
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment (required)")
	cmd.MarkFlagRequired("env")
	m.addOutputFlag(cmd)
	return cmd
}

func writeFlagView(w io.Writer, v *client.FlagView) error {
	s, f := &v.Flag, &v.Flag.Flag
	fmt.Fprintf(w, "flag %s of %s in %s (%s, version %d)\n", f.Key, s.Service, s.Environment, f.Type, s.Version)
	if f.Description != "" {
		fmt.Fprintf(w, "  %s\n", f.Description)
	}
	origin := "set by people, not declared in the service file"
	if s.Declared {
		origin = "declared in the service file"
	}
	fmt.Fprintf(w, "  %s; last changed by %s at %s\n", origin, s.UpdatedBy, fmtTime(s.UpdatedAt))
	names := make([]string, 0, len(f.Variants))
	for name := range f.Variants {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "variants:")
	for _, name := range names {
		b, _ := json.Marshal(f.Variants[name])
		var marks []string
		if name == f.DefaultVariant {
			marks = append(marks, "default")
		}
		if name == f.SafeVariant {
			marks = append(marks, "safe")
		}
		mark := ""
		if len(marks) > 0 {
			mark = " (" + strings.Join(marks, ", ") + ")"
		}
		fmt.Fprintf(w, "  %s = %s%s\n", name, b, mark)
	}
	fmt.Fprintln(w, "state:")
	var last *shipgate.FlagChange
	for i := range v.Changes {
		if v.Changes[i].State == shipgate.FlagChangeApplied {
			last = &v.Changes[i]
			break
		}
	}
	switch {
	case f.Disabled:
		fmt.Fprintf(w, "  %s to everyone; `shipgate flag enable` turns the rules back on\n", webui.FlagStateWords(f, last))
	default:
		fmt.Fprintln(w, "  on: evaluations follow the targeting below")
	}
	fmt.Fprintln(w, "targeting:")
	for i, r := range f.Rules {
		name := ""
		if r.Name != "" {
			name = " (" + r.Name + ")"
		}
		cond := "everyone"
		if len(r.When) > 0 {
			parts := make([]string, len(r.When))
			for j, c := range r.When {
				b, _ := json.Marshal(c.Value)
				val := string(b)
				if c.Op == shipgate.OpRegex {
					// As written in the file: JSON would double every backslash.
					val = fmt.Sprintf("/%v/", c.Value)
				}
				parts[j] = fmt.Sprintf("%s %s %s", c.Attribute, c.Op, val)
			}
			cond = strings.Join(parts, " and ")
		}
		fmt.Fprintf(w, "  rule %d%s: if %s: %s\n", i+1, name, cond, serveWords(r.Variant, r.Rollout))
	}
	rest := "everyone else"
	if len(f.Rules) == 0 {
		rest = "everyone"
	}
	fmt.Fprintf(w, "  %s: %s\n", rest, serveWords(f.DefaultVariant, f.Rollout))
	if len(v.Pending) > 0 {
		fmt.Fprintln(w, "pending changes:")
		for _, c := range v.Pending {
			fmt.Fprintf(w, "  change %d: %s by %s at %s: %s\n    %s; `shipgate flag approve %d`\n", c.ID, c.Op, c.RequestedBy, fmtTime(c.RequestedAt), c.Reason, c.Awaiting, c.ID)
		}
	}
	fmt.Fprintln(w, "recent changes:")
	return writeFlagChanges(w, v.Changes, false)
}

// serveWords says what a rule or the fallthrough serves.
func serveWords(variant string, r *shipgate.FlagRollout) string {
	if r == nil {
		return "serve " + variant
	}
	parts := make([]string, len(r.Split))
	for i, s := range r.Split {
		parts[i] = fmt.Sprintf("%s %s%%", s.Variant, strconv.FormatFloat(s.Percent, 'f', -1, 64))
	}
	return fmt.Sprintf("split %s by %s", strings.Join(parts, ", "), r.Attribute())
}

func writeFlagChanges(w io.Writer, cs []shipgate.FlagChange, withFlag bool) error {
	if len(cs) == 0 {
		_, err := fmt.Fprintln(w, "  none")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withFlag {
		fmt.Fprintln(tw, "ID\tWHEN\tSERVICE\tENV\tFLAG\tOP\tSTATE\tBY\tREASON")
	} else {
		fmt.Fprintln(tw, "  ID\tWHEN\tOP\tSTATE\tBY\tREASON")
	}
	for _, c := range cs {
		state := string(c.State)
		if len(c.Approvals) > 0 {
			names := make([]string, len(c.Approvals))
			for i, a := range c.Approvals {
				names[i] = a.Approver
			}
			state += " (approved by " + strings.Join(names, ", ") + ")"
		}
		if withFlag {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, fmtTime(c.RequestedAt), c.Service, c.Environment, c.Key, c.Op, state, c.RequestedBy, c.Reason)
		} else {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", c.ID, fmtTime(c.RequestedAt), c.Op, state, c.RequestedBy, c.Reason)
		}
	}
	return tw.Flush()
}

// renderFlagChange prints the outcome of a change: applied, or waiting
// and for whom.
func (m *Main) renderFlagChange(c *shipgate.FlagChange) error {
	return m.render(c, func(w io.Writer) error {
		switch c.State {
		case shipgate.FlagChangePending:
			_, err := fmt.Fprintf(w, "change %d (%s %s of %s in %s) waits for approval: %s\napprove with `shipgate flag approve %d`\n", c.ID, c.Op, c.Key, c.Service, c.Environment, c.Awaiting, c.ID)
			return err
		case shipgate.FlagChangeRejected:
			_, err := fmt.Fprintf(w, "change %d (%s %s of %s in %s) rejected\n", c.ID, c.Op, c.Key, c.Service, c.Environment)
			return err
		}
		_, err := fmt.Fprintf(w, "%s (change %d applied)\n", c.Describe(), c.ID)
		return err
	})
}

func (m *Main) flagSetCommand() *cobra.Command {
	var env, file, reason string
	cmd := &cobra.Command{
		Use:   "set SERVICE FLAG --env ENV --file FLAG.yaml --reason TEXT",
		Short: "Replace a flag's definition (or create a flag) from a file in the service-file flag syntax",
		Long: `Replace the live definition of a flag in one environment, or create a
flag, from a file holding one flag as it is written under spec.flags of a
service file (key, type, variants, default_variant, safe_variant, rules,
rollout). Where the environment's flag_approvals require approvals, the
change waits for them. The next apply of a service file that changes the
flag's declaration replaces it again.`,
		Args: serviceAndFlag,
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := readFlagFile(file)
			if err != nil {
				return err
			}
			f, err := config.ParseFlag(file, src)
			if err != nil {
				return err
			}
			if f.Key != args[1] {
				return fmt.Errorf("%s defines flag %q, not %q", file, f.Key, args[1])
			}
			c, err := m.client().ChangeFlag(cmd.Context(), args[0], env, args[1], client.FlagChangeRequest{Op: shipgate.FlagOpSet, Reason: reason, Flag: f})
			if err != nil {
				return err
			}
			return m.renderFlagChange(c)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment (required)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "file holding the flag (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; audited)")
	for _, name := range []string{"env", "file", "reason"} {
		cmd.MarkFlagRequired(name)
	}
	m.addOutputFlag(cmd)
	return cmd
}

func readFlagFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxFlagFile+1))
	if err != nil {
		return nil, err
	}
	if len(src) > maxFlagFile {
		return nil, fmt.Errorf("%s is larger than %d bytes; a flag file holds one flag", name, maxFlagFile)
	}
	return src, nil
}

func (m *Main) flagToggleCommand(op shipgate.FlagChangeOp, short string) *cobra.Command {
	var env, reason string
	cmd := &cobra.Command{
		Use:   string(op) + " SERVICE FLAG --env ENV --reason TEXT",
		Short: short,
		Args:  serviceAndFlag,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := m.client().ChangeFlag(cmd.Context(), args[0], env, args[1], client.FlagChangeRequest{Op: op, Reason: reason})
			if err != nil {
				return err
			}
			return m.renderFlagChange(c)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; audited)")
	cmd.MarkFlagRequired("env")
	cmd.MarkFlagRequired("reason")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) flagRolloutCommand() *cobra.Command {
	var env, reason, split, by string
	var clear bool
	cmd := &cobra.Command{
		Use:   "rollout SERVICE FLAG --env ENV (--split VARIANT=PERCENT,… [--by ATTR] | --clear) --reason TEXT",
		Short: "Set (or clear) the percentage rollout that decides for callers no rule matched",
		Long: `Split the callers no rule matched between variants by a stable hash of a
context attribute (--by, targetingKey by default): the same value always
gets the same variant. --split on=10,off=90; the percentages sum to 100
with at most two decimals. --clear removes the rollout: the default variant
serves them again.`,
		Args: serviceAndFlag,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := client.FlagChangeRequest{Op: shipgate.FlagOpRollout, Reason: reason}
			switch {
			case clear && (split != "" || by != ""):
				return fmt.Errorf("--clear removes the rollout; leave out --split and --by")
			case !clear && split == "":
				return fmt.Errorf("give --split VARIANT=PERCENT,… (e.g. --split on=10,off=90), or --clear")
			case !clear:
				r, err := parseSplit(split)
				if err != nil {
					return err
				}
				r.By = by
				req.Rollout = r
			}
			c, err := m.client().ChangeFlag(cmd.Context(), args[0], env, args[1], req)
			if err != nil {
				return err
			}
			return m.renderFlagChange(c)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment (required)")
	cmd.Flags().StringVar(&split, "split", "", "VARIANT=PERCENT,… summing to 100")
	cmd.Flags().StringVar(&by, "by", "", "context attribute to bucket by (default targetingKey)")
	cmd.Flags().BoolVar(&clear, "clear", false, "remove the rollout")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; audited)")
	cmd.MarkFlagRequired("env")
	cmd.MarkFlagRequired("reason")
	m.addOutputFlag(cmd)
	return cmd
}

// parseSplit reads "on=10,off=90".
func parseSplit(s string) (*shipgate.FlagRollout, error) {
	r := &shipgate.FlagRollout{}
	for _, part := range strings.Split(s, ",") {
		name, pct, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--split %q: each share is VARIANT=PERCENT, e.g. on=10", part)
		}
		p, err := strconv.ParseFloat(strings.TrimSuffix(pct, "%"), 64)
		if err != nil {
			return nil, fmt.Errorf("--split %q: %q is not a percentage", part, pct)
		}
		r.Split = append(r.Split, shipgate.FlagSplit{Variant: name, Percent: p})
	}
	return r, nil
}

func (m *Main) flagKillCommand() *cobra.Command {
	var env, reason string
	var release int64
	cmd := &cobra.Command{
		Use:   "kill (SERVICE FLAG --env ENV | --release ID) --reason TEXT",
		Short: "The kill switch: serve a flag's safe variant to everyone now, without approval",
		Long: `Turn a flag to its safe variant at once for every caller. A kill never waits
for approval, whatever the environment's flag_approvals say; it is audited
as flag.killed with your reason (an incident-grade action) and notified.
--release ID kills every flag the release declares it introduces, in its
environment. Turning the flag back on is "shipgate flag enable", a governed
change.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if release != 0 {
				if len(args) != 0 || env != "" {
					return fmt.Errorf("flag kill --release ID kills the flags of a release; leave out SERVICE, FLAG and --env")
				}
				return nil
			}
			if len(args) != 2 || env == "" {
				return fmt.Errorf("flag kill needs SERVICE FLAG --env ENV, or --release ID")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if release != 0 {
				cs, err := m.client().KillReleaseFlags(cmd.Context(), release, reason)
				if err != nil {
					return err
				}
				return m.render(cs, func(w io.Writer) error {
					for _, c := range cs {
						fmt.Fprintf(w, "%s (change %d)\n", c.Describe(), c.ID)
					}
					return nil
				})
			}
			c, err := m.client().KillFlag(cmd.Context(), args[0], env, args[1], reason)
			if err != nil {
				return err
			}
			return m.renderFlagChange(c)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment")
	cmd.Flags().Int64Var(&release, "release", 0, "kill every flag this release introduced")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; audited)")
	cmd.MarkFlagRequired("reason")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) flagChangesCommand() *cobra.Command {
	var q client.FlagChangeQuery
	var pending bool
	cmd := &cobra.Command{
		Use:   "changes [--service S] [--env E] [--flag KEY] [--pending]",
		Short: "List flag changes, newest first (--pending: those waiting for approval)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if pending {
				q.State = shipgate.FlagChangePending
			}
			cs, err := m.client().ListFlagChanges(cmd.Context(), q)
			if err != nil {
				return err
			}
			return m.render(cs, func(w io.Writer) error {
				if len(cs) == 0 {
					_, err := fmt.Fprintln(w, "no flag changes")
					return err
				}
				if err := writeFlagChanges(w, cs, true); err != nil {
					return err
				}
				for _, c := range cs {
					if c.State == shipgate.FlagChangePending {
						fmt.Fprintf(w, "change %d %s\n", c.ID, c.Awaiting)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&q.Service, "service", "", "only this service's")
	cmd.Flags().StringVar(&q.Environment, "env", "", "only this environment's")
	cmd.Flags().StringVar(&q.Key, "flag", "", "only this flag's")
	cmd.Flags().BoolVar(&pending, "pending", false, "only changes waiting for approval")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) flagDecideCommand(decision string) *cobra.Command {
	var comment string
	use, short := "approve CHANGE_ID [--comment TEXT]", "Approve a pending flag change (never your own); it applies once it has the approvals required"
	if decision == shipgate.DecisionReject {
		use, short = "reject CHANGE_ID --comment TEXT", "Reject a pending flag change (or withdraw your own)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  oneArg("a flag change ID", "flag changes --pending"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			var c *shipgate.FlagChange
			if decision == shipgate.DecisionApprove {
				c, err = m.client().ApproveFlagChange(cmd.Context(), id, comment)
			} else {
				c, err = m.client().RejectFlagChange(cmd.Context(), id, comment)
			}
			if err != nil {
				return err
			}
			return m.renderFlagChange(c)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "comment (required to reject)")
	if decision == shipgate.DecisionReject {
		cmd.MarkFlagRequired("comment")
	}
	m.addOutputFlag(cmd)
	return cmd
}

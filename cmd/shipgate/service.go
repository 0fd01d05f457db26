package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (m *Main) serviceCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Inspect services and their revision history"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List services",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			svcs, err := m.client().Services(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(svcs, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tREVISION\tENVIRONMENTS\tJOBS\tUPDATED")
				for _, s := range svcs {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", s.Name, s.Revision, strings.Join(s.Spec.EnvironmentNames(), ","), len(s.Spec.Pipeline.Jobs), fmtTime(s.UpdatedAt))
				}
				return tw.Flush()
			})
		},
	}
	m.addOutputFlag(list)
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a service's current spec",
		Args:  oneArg("a service name", "service list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := m.client().Service(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return m.render(s, func(w io.Writer) error {
				fmt.Fprintf(w, "service %s, revision %d (%s)\n", s.Name, s.Revision, short(s.Digest))
				printOwnership(w, s.Spec.Owner, s.Spec.Runbook)
				for _, e := range s.Spec.Environments {
					fmt.Fprintf(w, "  environment %s: %d approval(s)", e.Name, e.Approvals.Required)
					if len(e.Approvals.FromGroups) > 0 {
						fmt.Fprintf(w, " from %s", strings.Join(e.Approvals.FromGroups, ","))
					}
					if len(e.Requires) > 0 {
						fmt.Fprintf(w, ", requires %s", strings.Join(e.Requires, ","))
					}
					if len(e.Policies) > 0 {
						ps := slices.Sorted(slices.Values(e.Policies))
						fmt.Fprintf(w, ", policies %s", strings.Join(ps, ","))
					}
					if len(e.Checklist) > 0 {
						fmt.Fprintf(w, ", checklist of %d item(s)", len(e.Checklist))
					}
					if len(e.Windows) > 0 {
						fmt.Fprintf(w, ", %d deploy window(s)", len(e.Windows))
					}
					fmt.Fprintln(w)
				}
				printServiceInputs(w, &s.Spec)
				for _, name := range s.Spec.Pipeline.TopoOrder() {
					j, _ := s.Spec.Pipeline.Job(name)
					kind := fmt.Sprintf("%d step(s)", len(j.Steps))
					if j.Check != nil {
						kind = "health check"
					}
					needs := ""
					if len(j.Needs) > 0 {
						needs = ", needs " + strings.Join(j.Needs, ",")
					}
					fmt.Fprintf(w, "  job %s: %s%s\n", j.Name, kind, needs)
				}
				return nil
			})
		},
	}
	m.addOutputFlag(show)
	history := &cobra.Command{
		Use:   "history NAME [REVISION]",
		Short: "List a service's revisions, or print one revision's file as applied",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := m.client()
			if len(args) == 2 {
				rev, err := strconv.Atoi(args[1])
				if err != nil {
					return fmt.Errorf("%q is not a revision number", args[1])
				}
				r, err := c.ServiceRevision(cmd.Context(), args[0], rev)
				if err != nil {
					return err
				}
				// The file as applied, lines and all: taken before render
				// makes every field one line. The termWriter still
				// escapes any control character in it.
				source := r.Source
				return m.render(r, func(w io.Writer) error {
					_, err := io.WriteString(w, source)
					return err
				})
			}
			revs, err := c.ServiceRevisions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return m.render(revs, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "REVISION\tAPPLIED\tBY\tFILE\tDIGEST")
				for _, r := range revs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Revision, fmtTime(r.AppliedAt), r.AppliedBy, r.Filename, short(r.Digest))
				}
				return tw.Flush()
			})
		},
	}
	m.addOutputFlag(history)
	cmd.AddCommand(list, show, history)
	return cmd
}

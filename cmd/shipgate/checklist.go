package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) checklistCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "checklist", Short: "Tick the manual items of a release's checklist (release show lists them)"}
	var req client.TickRequest
	tick := &cobra.Command{
		Use:   "tick RELEASE ITEM --link URL [--comment TEXT]",
		Short: "Tick a manual checklist item, with the link to its evidence",
		Long: `Tick a manual item of a release's checklist. Only a member of the item's owner
group may, and only with an evidence link (a ticket, a sign-off, a test report);
the tick is audited and shown by "release show" with who ticked it and when.
Automated items are not ticked: they hold when the release's evidence does.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			req.Item = args[1]
			v, err := m.client().TickChecklist(cmd.Context(), id, req)
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				fmt.Fprintf(w, "ticked %q of release %d\n", req.Item, v.ID)
				return printChecklist(w, v)
			})
		},
	}
	tick.Flags().StringVar(&req.Link, "link", "", "URL of the evidence (required)")
	tick.Flags().StringVar(&req.Comment, "comment", "", "a note, recorded with the tick")
	m.addOutputFlag(tick)
	cmd.AddCommand(tick)
	return cmd
}

// printOwnership prints a service's owner and runbook, when it has them.
func printOwnership(w io.Writer, owner, runbook string) {
	if owner != "" {
		fmt.Fprintf(w, "  owner:     %s\n", owner)
	}
	if runbook != "" {
		fmt.Fprintf(w, "  runbook:   %s\n", runbook)
	}
}

// printGovernance prints a release's checklist and freeze override.
func printGovernance(w io.Writer, v *client.ReleaseView) {
	if o := v.FreezeOverride; o != nil {
		status := "waiting for a member of the override group to approve it (freeze approve-override)"
		if o.Granted() {
			status = "approved by " + o.ApprovedBy + " " + fmtTime(*o.ApprovedAt)
		}
		fmt.Fprintf(w, "  override:  freeze override asked by %s %s: %q, %s\n", o.RequestedBy, fmtTime(o.RequestedAt), o.Reason, status)
	}
	printChecklist(w, v)
}

func printChecklist(w io.Writer, v *client.ReleaseView) error {
	if len(v.Checklist) == 0 {
		return nil
	}
	fmt.Fprintln(w, "checklist:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, it := range v.Checklist {
		mark := "✗ unmet"
		if it.Holds {
			mark = "✓ holds"
		}
		what := it.Condition
		if it.Kind == "manual" {
			what = "manual, owner " + it.Owner
		}
		fmt.Fprintf(tw, "  %s\t%s\tgate %s\t%s\t%s\n", mark, it.Name, it.Gate, what, it.Why)
		if it.Tick != nil && it.Tick.Comment != "" {
			fmt.Fprintf(tw, "  \t\t\tcomment\t%q\n", it.Tick.Comment)
		}
	}
	return tw.Flush()
}

package main

import (
	"fmt"
	"io"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) approveCommand() *cobra.Command {
	return m.decisionCommand(shipgate.DecisionApprove, "approve ID", "Approve a release (the digest you approve is shown and recorded)")
}

func (m *Main) rejectCommand() *cobra.Command {
	return m.decisionCommand(shipgate.DecisionReject, "reject ID", "Reject a release; one rejection ends it")
}

func (m *Main) decisionCommand(decision, use, short string) *cobra.Command {
	var comment, digest string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			c := m.client()
			if digest == "" {
				// Approve what the server shows now; the server refuses if
				// it changed in between.
				v, err := c.Release(cmd.Context(), id)
				if err != nil {
					return err
				}
				digest = v.Digest
			}
			var v *client.ReleaseView
			if decision == shipgate.DecisionApprove {
				if v, err = c.Approve(cmd.Context(), id, digest, comment); err == nil {
					m.printPolicyWarnings(cmd.Context(), id, shipgate.PolicyPointApprove)
				}
			} else {
				v, err = c.Reject(cmd.Context(), id, digest, comment)
			}
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				verb := map[string]string{shipgate.DecisionApprove: "approved", shipgate.DecisionReject: "rejected"}[decision]
				fmt.Fprintf(w, "%s release %d (digest %s)\n", verb, v.ID, v.Digest)
				fmt.Fprintf(w, "release %d is now %s\n", v.ID, stateLine(v.Release))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why")
	cmd.Flags().StringVar(&digest, "digest", "", "the release digest you reviewed (default: the current one)")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) cancelCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a release that has not finished; running steps are stopped",
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			v, err := m.client().Cancel(cmd.Context(), id, reason)
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "release %d %s\n", v.ID, stateLine(v.Release))
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) rerunCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rerun ID",
		Short: "Start a new run of a failed release (same digest, new run number)",
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			v, err := m.client().Rerun(cmd.Context(), id)
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "release %d run %d: %s\n", v.ID, v.Run, stateLine(v.Release))
				return err
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}

package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) rollbackCommand() *cobra.Command {
	var req client.RollbackRequest
	cmd := &cobra.Command{
		Use:   "rollback SERVICE --env ENV [--to VERSION] [--reason TEXT]",
		Short: "Roll an environment back now; or hold / fire / call off a pending rollback (rollback hold|now|call-off ID)",
		Long: `Roll an environment back: create a rollback release that restores the last
release that succeeded before the current one (or --to VERSION), linked to the
release it replaces. It skips approval only when the restored version was
approved and succeeded in that environment before.

A rollback release deploys the restored version directly: all traffic at once,
or by the environment's rollback_strategy; it never pauses for "shipgate
promote" and is never judged against the version it replaces. It starts even
while the environment's deploy windows are closed, unless the environment sets
windows_apply_to_rollbacks: true. A rollback to a version whose artifact can no
longer be deployed (gone from the artifact store, or changed) is refused.

A rollback the policy started waits delay_seconds; "rollback hold ID" stops it,
"rollback now ID" fires it at once, and "rollback call-off ID --reason TEXT"
ends it without rolling back (the release stays failed; nothing is deployed).
--reason is recorded in the audit log and shown in "release show".`,
		Args: oneArg("a service name", "service list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Service = args[0]
			if req.Environment == "" {
				return fmt.Errorf("rollback needs --env")
			}
			v, err := m.client().Rollback(cmd.Context(), req)
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				fmt.Fprintf(w, "rollback release %d restores %s %s in %s (replacing release %d): %s\n", v.ID, v.Service, v.Version, v.Environment, v.RollbackOf, stateLine(v.Release))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.Environment, "env", "", "environment to roll back (required)")
	cmd.Flags().StringVar(&req.ToVersion, "to", "", "version to restore (default: the last one that succeeded before the current)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (recorded in the audit log and the release's timeline)")
	m.addOutputFlag(cmd)
	act := func(use, short string, call func(*client.Client, *cobra.Command, int64, string) (*client.ReleaseView, error)) *cobra.Command {
		var reason string
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  oneArg("a release ID", "release list"),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := parseID(args[0])
				if err != nil {
					return err
				}
				v, err := call(m.client(), cmd, id, reason)
				if err != nil {
					return err
				}
				return m.render(v, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "release %d: %s\n", v.ID, rollbackLine(v.Rollback))
					return err
				})
			},
		}
		c.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log and the release's timeline)")
		m.addOutputFlag(c)
		return c
	}
	cmd.AddCommand(
		act("hold ID", "Stop a pending rollback from firing on its own", func(c *client.Client, cmd *cobra.Command, id int64, reason string) (*client.ReleaseView, error) {
			return c.HoldRollback(cmd.Context(), id, reason)
		}),
		act("now ID", "Fire a pending or held rollback at once", func(c *client.Client, cmd *cobra.Command, id int64, reason string) (*client.ReleaseView, error) {
			return c.RollbackNow(cmd.Context(), id, reason)
		}),
		act("call-off ID --reason TEXT", "End a pending or held rollback without rolling back (the release stays failed)", func(c *client.Client, cmd *cobra.Command, id int64, reason string) (*client.ReleaseView, error) {
			if strings.TrimSpace(reason) == "" {
				return nil, fmt.Errorf("rollback call-off needs --reason: say why the rollback is not wanted (it is recorded in the audit log)")
			}
			return c.CallOffRollback(cmd.Context(), id, reason)
		}),
	)
	return cmd
}

// rollbackLine describes a rollback in a sentence, with a countdown while
// it is pending.
func rollbackLine(rb *shipgate.Rollback) string {
	if rb == nil {
		return "no rollback"
	}
	target := fmt.Sprintf("version %s (release %d)", rb.TargetVersion, rb.TargetID)
	switch rb.State {
	case shipgate.RollbackPending:
		if rb.FiresAt != nil && time.Until(*rb.FiresAt) < 0 {
			// Due: the leading server fires it on its next look; with no
			// server leading (one just died), it waits for the next leader.
			return fmt.Sprintf("rollback to %s pending: due since %s; the leading server fires it (if none leads, as soon as one does)",
				target, fmtTime(*rb.FiresAt))
		}
		if rb.FiresAt != nil {
			return fmt.Sprintf("rollback to %s pending: fires in %s (at %s) unless it is called off, held, or fired now",
				target, time.Until(*rb.FiresAt).Round(time.Second), fmtTime(*rb.FiresAt))
		}
	case shipgate.RollbackHeld:
		return fmt.Sprintf("rollback to %s held: %s", target, rb.Reason)
	case shipgate.RollbackCalledOff:
		return fmt.Sprintf("rollback to %s called off: %s", target, rb.Reason)
	case shipgate.RollbackFired:
		return fmt.Sprintf("rollback to %s fired: rollback release %d", target, rb.RollbackRelease)
	case shipgate.RollbackDone:
		return fmt.Sprintf("rolled back to %s by release %d", target, rb.RollbackRelease)
	case shipgate.RollbackUnavailable:
		return "no rollback: " + rb.Reason
	}
	return fmt.Sprintf("rollback %s: %s", rb.State, rb.Reason)
}

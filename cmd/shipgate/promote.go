package main

import (
	"fmt"
	"io"

	"github.com/shipgate/shipgate"
	"github.com/spf13/cobra"
)

func (m *Main) promoteCommand() *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:   "promote ID",
		Short: "Continue a rollout paused for a person (a pause without a duration, or an inconclusive analysis)",
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			v, err := m.client().Promote(cmd.Context(), id, comment)
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				said := false
				for _, ro := range v.Rollouts {
					s := ro.Status
					if s.Phase != shipgate.RolloutPaused || ro.PromotedThrough < s.Pause {
						continue
					}
					where := ""
					if s.Step > 0 {
						where = " past step " + stepOf(s)
					}
					fmt.Fprintf(w, "promoted release %d: the rollout of job %s continues%s\n", v.ID, ro.Job, where)
					said = true
				}
				if !said {
					fmt.Fprintf(w, "promoted release %d; its rollout has moved on already\n", v.ID)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why; recorded in the audit log")
	m.addOutputFlag(cmd)
	return cmd
}

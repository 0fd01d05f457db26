package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (m *Main) notifyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "notify", Short: "Inspect notification delivery"}
	var failed bool
	var state string
	list := &cobra.Command{
		Use:   "list [--failed]",
		Short: "List notifications and their delivery; --failed shows the ones given up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if failed {
				state = "failed"
			}
			ns, err := m.client().Notifications(cmd.Context(), state)
			if err != nil {
				return err
			}
			return m.render(ns, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSINK\tEVENT\tSUBJECT\tSTATE\tATTEMPTS\tCREATED\tLAST ERROR")
				for _, n := range ns {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.ID, n.Sink, n.EventType, n.Subject, n.State, n.Attempts, fmtTime(n.CreatedAt), n.LastError)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&failed, "failed", false, "only notifications that were given up")
	enumFlag(list, &state, "state", "", "", "notification state", []string{"pending", "delivered", "failed"}, "only this state")
	m.addOutputFlag(list)
	cmd.AddCommand(list)
	return cmd
}

package main

import "github.com/spf13/cobra"

// metricsSubcommands are the commands under `shipgate metrics`, each
// added from its own file's init (metrics_gates.go, …), so the files of
// the metrics commands do not edit one list.
var metricsSubcommands []func(*Main) *cobra.Command

// metricsCommand groups the commands that read figures computed from the
// store's records (docs/metrics.md).
func metricsCommand(m *Main) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Figures computed from what shipgate recorded: gate and rollout KPIs (docs/metrics.md)",
	}
	for _, sub := range metricsSubcommands {
		cmd.AddCommand(sub(m))
	}
	return cmd
}

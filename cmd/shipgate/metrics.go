package main

import "github.com/spf13/cobra"

// metricsCommand groups the metrics shipgate computes from its own events.
func (m *Main) metricsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "metrics", Short: "Delivery metrics computed from shipgate's own events (docs/metrics.md)"}
	cmd.AddCommand(m.metricsDORACommand(), metricsGatesCommand(m))
	return cmd
}

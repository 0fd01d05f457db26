package main

import (
	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/internal/demo"
)

// demoAppCommand is shipgate demo-app: the demo's HTTP service, and its
// hidden restart step (see internal/demo).
func (m *Main) demoAppCommand() *cobra.Command {
	var cfg demo.AppConfig
	cmd := &cobra.Command{
		Use:   "demo-app --listen ADDR --version V [--fail-rate R] [--broken-health] [--hiccups]",
		Short: "A tiny HTTP service for shipgate demo: / says its version, /healthz says whether it is healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return demo.RunApp(cmd.Context(), m.Stdout, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8099", "address to listen on")
	f.StringVar(&cfg.Version, "version", "1.0", "version to report")
	f.Float64Var(&cfg.FailRate, "fail-rate", 0, "share of /healthz requests that fail, 0–1")
	f.BoolVar(&cfg.BrokenHealth, "broken-health", false, "make /healthz always fail (a bad release)")
	f.Float64Var(&cfg.ErrorRate, "error-rate", 0, "share of / requests answered 500, 0–1")
	f.DurationVar(&cfg.Latency, "latency", 0, "delay added to every answer of /")
	f.BoolVar(&cfg.Hiccups, "hiccups", false, "serve POST /hiccup?for=1s: for that long most / requests fail (a process hiccup, on demand)")
	f.Float64Var(&cfg.HiccupErrorRate, "hiccup-error-rate", 0.9, "share of / requests answered 500 during a hiccup, 0–1")
	f.StringVar(&cfg.Config, "config", "", "read version, fail_rate, broken_health, error_rate, latency, hiccups and hiccup_error_rate from this demo artifact (key=value lines)")
	restart := &cobra.Command{
		Use:    "restart --dir DIR --port PORT --config FILE",
		Short:  "Replace the demo app running from DIR with the version FILE describes, and wait until it serves",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _ := cmd.Flags().GetString("dir")
			port, _ := cmd.Flags().GetInt("port")
			conf, _ := cmd.Flags().GetString("config")
			return demo.RestartApp(cmd.Context(), m.Stdout, dir, port, conf)
		},
	}
	restart.Flags().String("dir", "", "directory holding the running app's pid file")
	restart.Flags().Int("port", 0, "port the app serves on")
	restart.Flags().String("config", "", "the release artifact: lines of key=value (version, fail_rate, broken_health)")
	cmd.AddCommand(restart)
	return cmd
}

package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/internal/demo"
)

func (m *Main) demoCommand() *cobra.Command {
	var cfg demo.Config
	cmd := &cobra.Command{
		Use:   "demo [--exit]",
		Short: "See a bad release rolled back by policy, then a bad canary aborted by its judge",
		Long: `Start a server on embedded SQLite with its built-in runner and play two acts.

Act 1, a health gate and a rollback policy: apply a demo service whose
production environment has both, deploy 1.0 (healthy), then 2.0 (whose
/healthz fails), and watch the gate fail, the rollback count down, and the
rollback release restore 1.0 on the same port. Prints the release's timeline
from the audit log and verifies the audit chain.

Act 2, a canary: a supervised service behind the built-in runner's traffic
router takes live traffic; 2.0, which answers half its requests with 500,
goes to 10%, the sequential judge aborts it within seconds, and the clients
are back on 1.0 before the rollback release even starts.

The server keeps running for exploration unless --exit; Ctrl-C stops it.
Without --dir the demo works in a new temporary directory and removes it
when it ends (on an error or Ctrl-C too); with --dir it keeps the directory,
and a later demo reuses it. Nothing is built at run time: the demo service is
this binary's demo-app command.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return m.runDemo(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.Dir, "dir", "", "directory for the demo's data (default: a new temporary directory)")
	cmd.Flags().StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "address of the demo server")
	cmd.Flags().IntVar(&cfg.Delay, "delay", 5, "the rollback policy's delay_seconds")
	cmd.Flags().BoolVar(&cfg.Exit, "exit", false, "stop the server when the demo is over; exit 0 only if everything happened as it should")
	return cmd
}

// runDemo wires the demo to a server in this process and to the CLI's
// own wording of releases, rollbacks and audit details.
func (m *Main) runDemo(ctx context.Context, cfg demo.Config) error {
	d := &demo.Demo{
		Out: m.Stdout,
		Serve: func(ctx context.Context, s demo.Server) error {
			server := &Main{Stdout: io.Discard, Stderr: s.Log, Getenv: func(k string) string {
				if k == "SHIPGATE_BOOTSTRAP_TOKEN" {
					return s.Token
				}
				return m.Getenv(k)
			}}
			return server.serve(ctx, ServeConfig{
				Listen: s.Listen, DataDir: s.DataDir, RunnerSlots: 2, MaxBodyBytes: 1 << 20,
				ShutdownGrace: 10 * time.Second, ArtifactRoots: []string{s.ArtifactRoot}, MaxJobLog: 1 << 20,
				LeaseTTL: 30 * time.Second, LostAfter: 45 * time.Second, LogOutput: s.Log, StopServicesOnExit: true,
				Ready: s.Ready,
			})
		},
		StateLine:    stateLine,
		RollbackLine: rollbackLine,
		Summarize:    summarize,
	}
	err := d.Run(ctx, cfg)
	var failed *demo.Failed
	if errors.As(err, &failed) {
		return &exitError{code: 1, msg: failed.Error()}
	}
	return err
}

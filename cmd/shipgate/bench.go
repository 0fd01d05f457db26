package main

import (
	"fmt"
	"time"

	"github.com/shipgate/shipgate/internal/bench"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/judgesim"
	"github.com/spf13/cobra"
)

func (m *Main) benchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that anyone can rerun",
	}
	cmd.AddCommand(m.benchJudgesCommand())
	cmd.AddCommand(m.benchRouterCommand())
	return cmd
}

func (m *Main) benchJudgesCommand() *cobra.Command {
	var dir, judges string
	var runs int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "judges",
		Short: "Replay synthetic canaries through every canary judge and compare them",
		Long: `Replays the synthetic canaries described by the scenario files in --scenarios
(format: docs/judge-benchmark.md) through shipgate's sequential judge and the
reference judges (argo-60s, argo-15s, kayenta-5m, kayenta-10m). All judges see
the same random traffic in each run. For each judge and scenario it prints the
rollback rate (false rollbacks where the scenario expects promote, detections
where it expects rollback), median and p90 time to rollback, and the median
canary requests and excess bad responses served before the rollback.

Scenario files can schedule the rate, the canary weight (up to 50%), error
rates and latency (steps or ramps), slow only the latency tail
(latency_tail), stall each arm's process independently (stalls), lose or
delay telemetry (telemetry: drop or lump) and give every judge a warm-up
(judge.warmup: shipgate's warm-up, Argo's initialDelay, Kayenta's
begin-after).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := m.jsonOutput()
			if err != nil {
				return err
			}
			if runs < 1 || runs > 1_000_000 {
				return fmt.Errorf("--runs must be between 1 and 1000000")
			}
			factories, err := bench.PickJudges(judges)
			if err != nil {
				return err
			}
			scenarios, err := config.LoadScenarios(dir)
			if err != nil {
				return err
			}
			start := time.Now()
			results, err := judgesim.Bench(cmd.Context(), scenarios, judgesim.BenchOptions{
				Runs: runs, Seed: seed, Judges: factories,
				Progress: func(done, total int, s *judgesim.Scenario) {
					fmt.Fprintf(m.Stderr, "[%d/%d] %s: %d runs done (%s)\n", done, total, s.Name, runs, time.Since(start).Round(100*time.Millisecond))
				},
			})
			if err != nil {
				return err
			}
			if asJSON {
				return m.printJSON(map[string]any{"results": results})
			}
			return bench.PrintJudges(m.Stdout, scenarios, results)
		},
	}
	cmd.Flags().StringVar(&dir, "scenarios", "bench/scenarios", "directory of scenario files (*.yaml)")
	cmd.Flags().IntVar(&runs, "runs", 1000, "canaries simulated per scenario")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed; the same seed and runs give the same results")
	cmd.Flags().StringVar(&judges, "judges", "", "comma-separated judges to run (default: all)")
	m.addOutputFlag(cmd)
	return cmd
}

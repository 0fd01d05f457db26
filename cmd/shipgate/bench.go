package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/config"
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
canary requests and excess bad responses served before the rollback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := m.jsonOutput()
			if err != nil {
				return err
			}
			if runs < 1 || runs > 1_000_000 {
				return fmt.Errorf("--runs must be between 1 and 1000000")
			}
			factories, err := pickJudges(judges)
			if err != nil {
				return err
			}
			scenarios, err := config.LoadScenarios(dir)
			if err != nil {
				return err
			}
			start := time.Now()
			results, err := analysis.Bench(cmd.Context(), scenarios, analysis.BenchOptions{
				Runs: runs, Seed: seed, Judges: factories,
				Progress: func(done, total int, s *analysis.Scenario) {
					fmt.Fprintf(m.Stderr, "[%d/%d] %s: %d runs done (%s)\n", done, total, s.Name, runs, time.Since(start).Round(100*time.Millisecond))
				},
			})
			if err != nil {
				return err
			}
			if asJSON {
				return m.printJSON(map[string]any{"results": results})
			}
			return printBench(m.Stdout, scenarios, results)
		},
	}
	cmd.Flags().StringVar(&dir, "scenarios", "bench/scenarios", "directory of scenario files (*.yaml)")
	cmd.Flags().IntVar(&runs, "runs", 1000, "canaries simulated per scenario")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed; the same seed and runs give the same results")
	cmd.Flags().StringVar(&judges, "judges", "", "comma-separated judges to run (default: all)")
	m.addOutputFlag(cmd)
	return cmd
}

func pickJudges(list string) ([]analysis.JudgeFactory, error) {
	all := analysis.BenchJudges()
	if list == "" {
		return all, nil
	}
	var out []analysis.JudgeFactory
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, f := range all {
			if f.Name == name {
				out = append(out, f)
				found = true
			}
		}
		if !found {
			var names []string
			for _, f := range all {
				names = append(names, f.Name)
			}
			return nil, fmt.Errorf("unknown judge %q (known: %s)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

func printBench(w io.Writer, scenarios []*analysis.Scenario, results []analysis.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tEXPECT\tJUDGE\tROLLBACK\tMEDIAN\tP90\tCANARY REQS\tEXCESS BAD\t")
	num := func(v *float64, unit string) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.0f%s", *v, unit)
	}
	for _, r := range results {
		rate := fmt.Sprintf("%.1f%%", 100*r.RollbackRate)
		if !r.Correct(0.01) {
			rate += " ✗"
		}
		excess := "–"
		if r.ExcessBad != nil {
			excess = fmt.Sprintf("%.1f", *r.ExcessBad)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Expect, r.Judge, rate,
			num(r.MedianS, " s"), num(r.P90S, " s"), num(r.CanaryRequests, ""), excess)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nROLLBACK is the share of runs rolled back: false rollbacks where the scenario expects promote, detections where it expects rollback; ✗ marks more than 1%% wrong. Times and medians are over the runs rolled back.\n")
	return err
}

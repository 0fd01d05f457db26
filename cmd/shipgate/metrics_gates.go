package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

// metricsGatesCommand prints the gate and rollout KPIs of a window.
func metricsGatesCommand(m *Main) *cobra.Command {
	var q client.KPIQuery
	cmd := &cobra.Command{
		Use:   "gates",
		Short: "Gate pass/fail and flakiness, queue times, canary durations and aborts, judge decisions, rework",
		Long: "Gate and rollout KPIs of the releases created in a window (default the last 30 days), " +
			"per service, environment and team (the service's owner group). Every figure is defined in docs/metrics.md; " +
			"-o json lists the releases behind each.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := m.client().GateKPIs(cmd.Context(), q)
			if err != nil {
				return err
			}
			return m.render(k, func(w io.Writer) error { return printGateKPIs(w, k) })
		},
	}
	cmd.Flags().StringVar(&q.Service, "service", "", "only releases of this service")
	cmd.Flags().StringVar(&q.Environment, "env", "", "only releases to this environment")
	cmd.Flags().StringVar(&q.Team, "team", "", "only releases of services this group owns")
	cmd.Flags().StringVar(&q.Since, "since", "30d", "the window: a duration such as 30d, 12h or 90m before --until, or an RFC 3339 time")
	cmd.Flags().StringVar(&q.Until, "until", "", "the window's end, an RFC 3339 time (default now)")
	m.addOutputFlag(cmd)
	return cmd
}

func printGateKPIs(w io.Writer, k *shipgate.GateKPIs) error {
	f := k.Filter
	var scope []string
	for _, s := range [][2]string{{"service", f.Service}, {"environment", f.Environment}, {"team", f.Team}} {
		if s[1] != "" {
			scope = append(scope, s[0]+" "+s[1])
		}
	}
	fmt.Fprintf(w, "%s created %s – %s", kpiCount(k.Releases, "release"), f.Since.UTC().Format("2006-01-02 15:04"), f.Until.UTC().Format("2006-01-02 15:04 MST"))
	if len(scope) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(scope, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nGATE\tPASSED\tFAILED\tFLAKY\tFLAKINESS\tFAILED RELEASES")
	if len(k.Gates) == 0 {
		fmt.Fprintln(tw, "(no gate outcomes)")
	}
	for _, g := range k.Gates {
		fmt.Fprintf(tw, "%s %s\t%d\t%d\t%d\t%s\t%s\n", g.Kind, g.Name, g.Passed, g.Failed, g.Flaky, kpiPercent(g.FlakinessRate), kpiIDs(g.FailedReleases))
	}
	fmt.Fprintln(tw, "\nQUEUE TIME\tCOUNT\tP50\tP90\tMEAN")
	for _, q := range []struct {
		name string
		d    shipgate.DurationFigure
	}{{"jobs (queued → started)", k.JobQueue}, {"releases (queued → started)", k.ReleaseQueue}} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", q.name, q.d.Count, kpiSecs(q.d.P50), kpiSecs(q.d.P90), kpiSecs(q.d.Mean))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := k.Canaries
	fmt.Fprintf(w, "\nCanaries: %d (%d completed, %d aborted: abort rate %s)", c.Count, c.Completed, c.Aborted, kpiPercent(c.AbortRate))
	if c.Duration.Count > 0 {
		fmt.Fprintf(w, ", mean duration %s (p50 %s, p90 %s)", kpiSecs(c.Duration.Mean), kpiSecs(c.Duration.P50), kpiSecs(c.Duration.P90))
	}
	fmt.Fprintln(w)
	for _, a := range c.AbortReasons {
		fmt.Fprintf(w, "  aborted %d× by %s (releases %s)\n", a.Count, a.Cause, kpiIDs(a.Releases))
	}
	if len(k.Judge) > 0 {
		fmt.Fprintln(w, "\nJudge decisions:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, j := range k.Judge {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", j.Metric, j.Judge, j.Verdict, j.Count)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	r := k.Rework
	_, err := fmt.Fprintf(w, "\nRework: %s and %s of %s (%s)\n", kpiCount(r.Rollbacks, "rollback"), kpiCount(r.Hotfixes, "hotfix"), kpiCount(k.Releases, "release"), kpiPercent(r.Rate))
	return err
}

func kpiCount(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "x") {
		return strconv.Itoa(n) + " " + word + "es"
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func kpiPercent(r float64) string {
	return strconv.FormatFloat(math.Round(r*10000)/100, 'f', -1, 64) + "%"
}

func kpiSecs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

func kpiIDs(ids []int64) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ", ")
}

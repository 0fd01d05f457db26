package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) metricsDORACommand() *cobra.Command {
	var q client.DORAQuery
	var until string
	cmd := &cobra.Command{
		Use:   "dora [--service S] [--env E] [--team T] [--since 30d] [--until TIME] [--bucket week|day]",
		Short: "DORA metrics: deployment frequency, lead time, change fail rate, recovery time, rework rate",
		Long: `DORA software delivery metrics computed from the audit chain: deployment
frequency, change lead time (commit → succeeded, p50/p90, and its stages
create → approved → started → succeeded), change fail rate, failed
deployment recovery time (p50/p90) and rework rate, over a window, for every
service and environment (production first) or those selected, with trends
and the releases behind each number. docs/metrics.md defines every number.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if until != "" {
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return fmt.Errorf("--until %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", until)
				}
				q.Until = &t
			}
			rep, err := m.client().DORA(cmd.Context(), q)
			if err != nil {
				return err
			}
			return m.render(rep, func(w io.Writer) error { return printDORA(w, rep) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Service, "service", "", "only this service")
	f.StringVar(&q.Environment, "env", "", "only this environment")
	f.StringVar(&q.Team, "team", "", "only services owned by this group (the service's owner)")
	f.StringVar(&q.Since, "since", "30d", "start of the window: a period before --until (30d, 12h) or an RFC 3339 time")
	f.StringVar(&until, "until", "", "end of the window, RFC 3339 (default now)")
	f.StringVar(&q.Bucket, "bucket", "week", "trend bucket: week or day")
	m.addOutputFlag(cmd)
	return cmd
}

func printDORA(w io.Writer, rep *shipgate.DORAReport) error {
	scope := "every service and environment"
	var sel []string
	for _, s := range [][2]string{{"service", rep.Service}, {"environment", rep.Environment}, {"team", rep.Team}} {
		if s[1] != "" {
			sel = append(sel, s[0]+" "+s[1])
		}
	}
	if len(sel) > 0 {
		scope = strings.Join(sel, ", ")
	}
	days := rep.Until.Sub(rep.Since).Hours() / 24
	fmt.Fprintf(w, "DORA metrics for %s, %s to %s (%s days)\n\n", scope, fmtTime(rep.Since), fmtTime(rep.Until), trimFloat(days))
	t := rep.Totals
	if t.Deployments == 0 {
		fmt.Fprintf(w, "  n/a — no deployments")
		if t.FailedAttempts > 0 {
			fmt.Fprintf(w, " (%s)", plural(t.FailedAttempts, "failed attempt"))
		}
		fmt.Fprintln(w)
	} else {
		printDORAMetrics(w, "  ", t)
	}
	if t.Failures > 0 && t.Deployments == 0 {
		fmt.Fprintf(w, "  recovery time          %s\n", recoveryLine(t))
	}
	if len(rep.Breakdown) > 0 {
		fmt.Fprintln(w, "\nBy service and environment:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVICE\tENVIRONMENT\tDEPLOYS\tPER WEEK\tLEAD P50\tLEAD P90\tFAIL RATE\tRECOVERY P50\tRECOVERY P90\tREWORK")
		for _, b := range rep.Breakdown {
			bm := b.Metrics
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Service, b.Environment, bm.Deployments, trimFloat(bm.DeploymentsPerWeek),
				fmtSeconds(bm.LeadTime.CommitToSucceeded.P50), fmtSeconds(bm.LeadTime.CommitToSucceeded.P90), cellRate(bm.ChangeFailRate, bm.FailedDeployments, bm.Deployments),
				fmtSeconds(bm.RecoveryTime.P50), fmtSeconds(bm.RecoveryTime.P90), cellRate(bm.ReworkRate, bm.Rework, bm.Deployments))
		}
		tw.Flush()
	}
	if len(rep.Failures) > 0 {
		fmt.Fprintln(w, "\nFailed deployments (by detection):")
		for _, f := range rep.Failures {
			fmt.Fprintf(w, "  release %d  %s → %s %s: %s; detected %s; %s\n", f.Release, f.Service, f.Environment, f.Version,
				strings.ReplaceAll(strings.Join(f.Causes, ", "), "_", " "), fmtTime(f.DetectedAt), recoveredLine(f))
		}
	}
	if len(rep.FailedAttempts) > 0 {
		ids := make([]string, len(rep.FailedAttempts))
		for i, id := range rep.FailedAttempts {
			ids[i] = fmt.Sprint(id)
		}
		fmt.Fprintf(w, "\nFailed attempts (failed before serving traffic; not deployments): releases %s\n", strings.Join(ids, ", "))
	}
	if len(rep.Trend) > 1 {
		// Buckets start at since, rarely at midnight: the label says when.
		fmt.Fprintf(w, "\nBy %s:\n", rep.Bucket)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FROM\tDEPLOYS\tFAIL RATE\tLEAD P50\tRECOVERY P50\tREWORK")
		for _, b := range rep.Trend {
			bm := b.Metrics
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", b.Start.UTC().Format("2006-01-02 15:04Z"), bm.Deployments, cellRate(bm.ChangeFailRate, bm.FailedDeployments, bm.Deployments),
				fmtSeconds(bm.LeadTime.CommitToSucceeded.P50), fmtSeconds(bm.RecoveryTime.P50), cellRate(bm.ReworkRate, bm.Rework, bm.Deployments))
		}
		tw.Flush()
	}
	if rep.Truncated {
		fmt.Fprintln(w, "\n(the lists show the newest 1000 entries; the numbers count everything)")
	}
	return nil
}

func printDORAMetrics(w io.Writer, indent string, t shipgate.DORAMetrics) {
	freq := fmt.Sprintf("%s, %s a week (%s a day)", plural(t.Deployments, "deployment"), trimFloat(t.DeploymentsPerWeek), trimFloat(t.DeploymentsPerDay))
	if t.FailedAttempts > 0 {
		freq += fmt.Sprintf("; %s (not deployments)", plural(t.FailedAttempts, "failed attempt"))
	}
	fmt.Fprintf(w, "%sdeployment frequency   %s\n", indent, freq)
	lt := t.LeadTime
	lead := "n/a — no deployment with a commit time (release create --committed-at)"
	if lt.CommitToSucceeded.N > 0 {
		lead = fmt.Sprintf("p50 %s, p90 %s (commit → succeeded, %s)", fmtSeconds(lt.CommitToSucceeded.P50), fmtSeconds(lt.CommitToSucceeded.P90), plural(lt.CommitToSucceeded.N, "deployment"))
	}
	if lt.WithoutCommitTime > 0 {
		lead += fmt.Sprintf("; %d without a commit time", lt.WithoutCommitTime)
	}
	fmt.Fprintf(w, "%schange lead time       %s\n", indent, lead)
	fmt.Fprintf(w, "%s  stages (p50)         created → approved %s, approved → started %s, started → succeeded %s\n", indent,
		fmtSeconds(lt.CreatedToApproved.P50), fmtSeconds(lt.ApprovedToStarted.P50), fmtSeconds(lt.StartedToSucceeded.P50))
	fmt.Fprintf(w, "%schange fail rate       %s\n", indent, fmtRate(t.ChangeFailRate, t.FailedDeployments, t.Deployments))
	fmt.Fprintf(w, "%srecovery time          %s\n", indent, recoveryLine(t))
	fmt.Fprintf(w, "%srework rate            %s (rollbacks and hotfixes)\n", indent, fmtRate(t.ReworkRate, t.Rework, t.Deployments))
}

func recoveryLine(t shipgate.DORAMetrics) string {
	if t.Failures == 0 {
		return "n/a — no failures"
	}
	s := "n/a — none recovered yet"
	if t.Recovered > 0 {
		s = fmt.Sprintf("p50 %s, p90 %s (%d recovered)", fmtSeconds(t.RecoveryTime.P50), fmtSeconds(t.RecoveryTime.P90), t.Recovered)
	}
	if t.Unrecovered > 0 {
		s += fmt.Sprintf("; %d not recovered", t.Unrecovered)
	}
	return s
}

func recoveredLine(f shipgate.DORAFailure) string {
	if f.RecoveredAt == nil {
		return "not recovered"
	}
	s := "recovered by " + strings.ReplaceAll(f.RecoveredBy, "_", " ")
	if f.RecoveredWith != 0 {
		s += fmt.Sprintf(" (release %d)", f.RecoveredWith)
	}
	return s + " in " + fmtSeconds(f.RecoverySeconds)
}

// fmtRate prints "25% (1 of 4)", or n/a without a denominator.
func fmtRate(r *float64, n, of int) string {
	if r == nil {
		return "n/a — no deployments"
	}
	return cellRate(r, n, of)
}

// cellRate is fmtRate for a table cell: a bare n/a.
func cellRate(r *float64, n, of int) string {
	if r == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s%% (%d of %d)", trimFloat(*r*100), n, of)
}

// fmtSeconds prints a duration as 45s, 5m, 3h10m or 2d4h; n/a for none.
func fmtSeconds(s *float64) string {
	if s == nil {
		return "n/a"
	}
	d := time.Duration(*s * float64(time.Second))
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour && d%time.Minute == 0:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// trimFloat prints at most two decimals, without trailing zeros.
func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

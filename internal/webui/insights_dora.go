package webui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// What the Metrics page reads from GET /api/v1/metrics/dora, and how it
// says each number in words and draws the weekly trends.

// The API answers with a shipgate.DORAReport (internal/dora): totals over the
// window, a breakdown per service and environment (production first),
// weekly buckets, and the releases behind each number.

// doraItem is one row of a drill-down: a deployment, or a failure with
// its causes and recovery.
type doraItem struct {
	Release                       int64
	Service, Environment, Version string
	At                            time.Time
	Rework                        string
	LeadSeconds                   *float64
	Causes                        []string
	RecoveredBy                   string
	RecoveredWith                 int64
	RecoverySeconds               *float64
}

// CauseWords are a failure's causes in words.
func (it doraItem) CauseWords() string {
	var out []string
	for _, c := range it.Causes {
		out = append(out, strings.ReplaceAll(c, "_", " "))
	}
	return strings.Join(out, ", ")
}

// MeansWords is how a failure was recovered, in words.
func (it doraItem) MeansWords() string {
	switch it.RecoveredBy {
	case "":
		return ""
	case "fix_forward":
		return "fix forward (hotfix)"
	case "canary_abort":
		return "canary aborted"
	case "flag_kill":
		return "kill switch"
	}
	return strings.ReplaceAll(it.RecoveredBy, "_", " ")
}

func deploymentItem(d shipgate.DORADeployment) doraItem {
	return doraItem{Release: d.Release, Service: d.Service, Environment: d.Environment, Version: d.Version, At: d.At, Rework: d.Rework, LeadSeconds: d.LeadSeconds}
}

func failureItem(f shipgate.DORAFailure) doraItem {
	return doraItem{Release: f.Release, Service: f.Service, Environment: f.Environment, Version: f.Version, At: f.DetectedAt,
		Causes: f.Causes, RecoveredBy: f.RecoveredBy, RecoveredWith: f.RecoveredWith, RecoverySeconds: f.RecoverySeconds}
}

// breakdownRow is one row of the per service and environment table.
type breakdownRow struct{ shipgate.DORABreakdown }

// Link is the page filtered to this row's service and environment.
func (b breakdownRow) Link(window string) string {
	return insightsFilter{Service: b.Service, Environment: b.Environment, Window: window}.Link("")
}

// LeadShort, RateWords and RecoveryShort are the row's cells.
func (b breakdownRow) LeadShort() string {
	return distShort(b.Metrics.LeadTime.CommitToSucceeded, "–")
}
func (b breakdownRow) RateWords() string {
	return rateWords(b.Metrics.ChangeFailRate, b.Metrics.FailedDeployments, b.Metrics.Deployments)
}
func (b breakdownRow) RecoveryShort() string { return distShort(b.Metrics.RecoveryTime, "–") }

// doraNumbers are the page's headline numbers in plain words.
func doraNumbers(t *shipgate.DORAMetrics, days float64) []insightsNumber {
	lt := t.LeadTime
	lead := "from the commit to the release succeeding in its environment"
	if lt.WithoutCommitTime > 0 {
		lead += fmt.Sprintf(" (%d %s without a commit time left out)", lt.WithoutCommitTime, pluralOf(lt.WithoutCommitTime, "deployment", "deployments"))
	}
	if lt.CreatedToSucceeded.N > 0 {
		lead += "; waiting for approval " + distShort(lt.CreatedToApproved, "–") + "; queued " + distShort(lt.ApprovedToStarted, "–") + "; running " + distShort(lt.StartedToSucceeded, "–")
	}
	recovery := "from a failure's detection to a good version running again"
	if t.Unrecovered > 0 {
		recovery += fmt.Sprintf("; %d %s not recovered yet", t.Unrecovered, pluralOf(t.Unrecovered, "failure", "failures"))
	}
	rework := fmt.Sprintf("%d %s", t.Rework, pluralOf(t.Rework, "rollback or hotfix", "rollbacks and hotfixes"))
	if t.ReworkRate != nil {
		rework = rateWords(t.ReworkRate, t.Rework, t.Deployments) + " rework"
	}
	deploys := fmt.Sprintf("%d %s in %s days", t.Deployments, pluralOf(t.Deployments, "deployment", "deployments"), chartNumber(days))
	if t.FailedAttempts > 0 {
		deploys += fmt.Sprintf("; %d failed %s before serving traffic, not counted", t.FailedAttempts, pluralOf(t.FailedAttempts, "attempt", "attempts"))
	}
	return []insightsNumber{
		{Name: "Deployment frequency", Words: frequencyWords(t.Deployments, days), Detail: deploys,
			Show: "deployments", LinkText: "Which deployments?"},
		{Name: "Change lead time", Words: distWords("lead time", lt.CommitToSucceeded), Detail: lead,
			Show: "lead_time", LinkText: "Lead time of each deployment"},
		{Name: "Change failure rate", Words: rateWords(t.ChangeFailRate, t.FailedDeployments, t.Deployments),
			Detail: "deployments that led to a rollback, a failed health gate, an aborted canary, a flag kill or a hotfix",
			Show:   "failures", LinkText: "Which deploys failed?"},
		{Name: "Failed deployment recovery time", Words: distWords("recovery", t.RecoveryTime), Detail: recovery,
			Show: "recoveries", LinkText: "How was each failure recovered?"},
		{Name: "Rework", Words: rework, Detail: "deployments that are rollbacks or hotfixes",
			Show: "rework", LinkText: "Which deployments were rework?"},
	}
}

func pluralOf(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// frequencyWords says how often deployments happened: a day when at
// least one a day, else a week, else the count over the window.
func frequencyWords(n int, days float64) string {
	perDay := float64(n) / days
	switch {
	case n == 0:
		return "no deployments"
	case perDay >= 1:
		return oneDecimal(perDay) + " " + pluralOf(int(math.Ceil(perDay-1e-9)), "deployment", "deployments") + " a day"
	case perDay*7 >= 1:
		w := perDay * 7
		return oneDecimal(w) + " " + pluralOf(int(math.Ceil(w-1e-9)), "deployment", "deployments") + " a week"
	}
	return fmt.Sprintf("%d %s in %s days", n, pluralOf(n, "deployment", "deployments"), chartNumber(days))
}

// oneDecimal prints 2.33 as 2.3 and 2.0 as 2.
func oneDecimal(f float64) string {
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

// rateWords is a rate as a percentage with its counts: "12% (3 of 25)".
func rateWords(rate *float64, n, of int) string {
	if rate == nil || of == 0 {
		return "no deployments to measure"
	}
	return fmt.Sprintf("%s%% (%d of %d)", oneDecimal(*rate*100), n, of)
}

// distWords is a distribution's p50 and p90: "lead time p50 3 h 10 min,
// p90 1 d 2 h".
func distWords(what string, d shipgate.DORADuration) string {
	if d.N == 0 || d.P50 == nil {
		return "no " + what + " measured"
	}
	s := what + " p50 " + secondsWords(d.P50)
	if d.P90 != nil {
		s += ", p90 " + secondsWords(d.P90)
	}
	return s
}

// distShort is a distribution's p50 and p90 for a table cell, or none.
func distShort(d shipgate.DORADuration, none string) string {
	if d.N == 0 || d.P50 == nil {
		return none
	}
	s := "p50 " + secondsWords(d.P50)
	if d.P90 != nil {
		s += ", p90 " + secondsWords(d.P90)
	}
	return s
}

// durationWords is a duration as a person says it, to two units: 45 s,
// 14 min, 3 h 10 min, 1 d 2 h.
func durationWords(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	day := 24 * time.Hour
	two := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d %s", a, ua)
		}
		return fmt.Sprintf("%d %s %d %s", a, ua, b, ub)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int64(d/time.Second))
	case d < time.Hour:
		return two(int64(d/time.Minute), "min", int64(d%time.Minute/time.Second), "s")
	case d < day:
		return two(int64(d/time.Hour), "h", int64(d%time.Hour/time.Minute), "min")
	}
	return two(int64(d/day), "d", int64(d%day/time.Hour), "h")
}

// doraCharts are the weekly trends: deployments, change failure rate,
// lead time p50 and recovery p50 per week. A week without a value (no
// deployment, no recovery) is a gap in the line and says so in the table.
func doraCharts(trend []shipgate.DORATrend) []*svgChart {
	type series struct {
		id, title, desc, ylabel, unit string
		value                         func(b *shipgate.DORATrend) (float64, bool)
		format                        func(float64) string
		words                         func(b *shipgate.DORATrend) string
	}
	hours := func(s *float64) (float64, bool) {
		if s == nil {
			return 0, false
		}
		return *s / 3600, true
	}
	hoursWords := func(h float64) string { return durationWords(time.Duration(h * float64(time.Hour))) }
	all := []series{
		{id: "trend-deployments", title: "Deployments per week", ylabel: "deployments",
			desc:   "How many deployments succeeded each week of the window.",
			value:  func(b *shipgate.DORATrend) (float64, bool) { return float64(b.Metrics.Deployments), true },
			format: chartNumber,
			words:  func(b *shipgate.DORATrend) string { return strconv.Itoa(b.Metrics.Deployments) }},
		{id: "trend-cfr", title: "Change failure rate per week", ylabel: "%",
			desc: "The share of each week's deployments that failed, in percent; a week without deployments has no rate.",
			value: func(b *shipgate.DORATrend) (float64, bool) {
				if b.Metrics.ChangeFailRate == nil {
					return 0, false
				}
				return *b.Metrics.ChangeFailRate * 100, true
			},
			format: chartPercent,
			words: func(b *shipgate.DORATrend) string {
				return rateWords(b.Metrics.ChangeFailRate, b.Metrics.FailedDeployments, b.Metrics.Deployments)
			}},
		{id: "trend-lead", title: "Lead time p50 per week", ylabel: "hours",
			desc:   "The median time from commit to succeeded of each week's deployments, in hours.",
			value:  func(b *shipgate.DORATrend) (float64, bool) { return hours(b.Metrics.LeadTime.CommitToSucceeded.P50) },
			format: hoursWords,
			words: func(b *shipgate.DORATrend) string {
				return distShort(b.Metrics.LeadTime.CommitToSucceeded, "no deployments")
			}},
		{id: "trend-recovery", title: "Recovery time p50 per week", ylabel: "hours",
			desc:   "The median time to recover from the failures detected each week, in hours.",
			value:  func(b *shipgate.DORATrend) (float64, bool) { return hours(b.Metrics.RecoveryTime.P50) },
			format: hoursWords,
			words:  func(b *shipgate.DORATrend) string { return distShort(b.Metrics.RecoveryTime, "no recoveries") }},
	}
	var out []*svgChart
	for _, s := range all {
		sp := chartSpec{ID: s.id, Title: s.title, Desc: s.desc, YLabel: s.ylabel, Dates: true, Format: s.format}
		ser := chartSeries{Name: s.title}
		rows := make([][]string, 0, len(trend))
		for i := range trend {
			b := &trend[i]
			if v, ok := s.value(b); ok {
				ser.Points = append(ser.Points, chartPoint{At: b.Start, Y: v})
			}
			rows = append(rows, []string{"week of " + b.Start.UTC().Format("2 Jan 2006"), s.words(b)})
		}
		sp.Series = []chartSeries{ser}
		c := sp.layout()
		c.Head, c.Rows = []string{"Week", s.title}, rows
		out = append(out, c)
	}
	return out
}

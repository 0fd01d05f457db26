package webui

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// What the Metrics page reads from GET /api/v1/metrics/dora, and how it
// says each number in words and draws the weekly trends.

// doraReport is the API's answer: totals over the window, a breakdown per
// service and environment, weekly buckets, and the releases behind each
// number.
type doraReport struct {
	Since     time.Time       `json:"since"`
	Until     time.Time       `json:"until"`
	Totals    doraFigures     `json:"totals"`
	Breakdown []doraBreakdown `json:"breakdown"`
	Trend     []doraBucket    `json:"trend"`
	Releases  doraReleases    `json:"releases"`
}

// doraFigures are the DORA numbers (and rework) of one slice of history.
type doraFigures struct {
	Deployments       int      `json:"deployments"`
	DeploymentsPerDay float64  `json:"deployments_per_day"`
	LeadTime          doraDist `json:"lead_time"`
	Failures          int      `json:"failures"`
	// ChangeFailureRate is failures over deployments, 0…1; absent when
	// nothing was deployed.
	ChangeFailureRate *float64 `json:"change_failure_rate"`
	Recovery          doraDist `json:"recovery"`
	Rework            int      `json:"rework"`
}

// doraDist is a distribution of durations in seconds; P50 and P90 are
// absent when Count is 0.
type doraDist struct {
	Count int      `json:"count"`
	P50   *float64 `json:"p50_seconds"`
	P90   *float64 `json:"p90_seconds"`
}

type doraBreakdown struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Production  bool   `json:"production"`
	doraFigures
}

// Link is the page filtered to this row's service and environment.
func (b doraBreakdown) Link(window string) string {
	return insightsFilter{Service: b.Service, Environment: b.Environment, Window: window}.Link("")
}

// LeadShort, RateWords and RecoveryShort are a table row's cells.
func (f doraFigures) LeadShort() string { return distShort(f.LeadTime, "–") }
func (f doraFigures) RateWords() string {
	return rateWords(f.ChangeFailureRate, f.Failures, f.Deployments)
}
func (f doraFigures) RecoveryShort() string { return distShort(f.Recovery, "–") }

type doraBucket struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	doraFigures
}

// doraReleases are the releases behind each number.
type doraReleases struct {
	Deployments []doraItem `json:"deployments"`
	Failures    []doraItem `json:"failures"`
	Recoveries  []doraItem `json:"recoveries"`
	Rework      []doraItem `json:"rework"`
}

// doraItem is one release behind a number: for a failure its cause, and
// how (means) and by which release it was recovered, in how long.
type doraItem struct {
	Release         int64      `json:"release"`
	Service         string     `json:"service"`
	Environment     string     `json:"environment"`
	Version         string     `json:"version"`
	At              time.Time  `json:"at"`
	LeadTimeSeconds *float64   `json:"lead_time_seconds"`
	Cause           string     `json:"cause"`
	Means           string     `json:"means"`
	RecoveredBy     int64      `json:"recovered_by"`
	RecoveredAt     *time.Time `json:"recovered_at"`
	DurationSeconds *float64   `json:"duration_seconds"`
}

// doraNumbers are the page's headline numbers in plain words.
func doraNumbers(t *doraFigures, days float64) []insightsNumber {
	out := []insightsNumber{
		{Name: "Deployment frequency", Words: frequencyWords(t.Deployments, days),
			Detail: fmt.Sprintf("%d %s in %s days", t.Deployments, pluralOf(t.Deployments, "deployment", "deployments"), chartNumber(days)),
			Show:   "deployments", LinkText: "Which deployments?"},
		{Name: "Change lead time", Words: distWords("lead time", t.LeadTime),
			Detail: "from the commit to the release succeeding in its environment",
			Show:   "lead_time", LinkText: "Lead time of each deployment"},
		{Name: "Change failure rate", Words: rateWords(t.ChangeFailureRate, t.Failures, t.Deployments),
			Detail: "deployments that led to a rollback, a failed health gate, an aborted canary, an urgent flag kill or a hotfix",
			Show:   "failures", LinkText: "Which deploys failed?"},
		{Name: "Failed deployment recovery time", Words: distWords("recovery", t.Recovery),
			Detail: "from a failure's detection to a good version running again",
			Show:   "recoveries", LinkText: "How was each failure recovered?"},
		{Name: "Rework", Words: fmt.Sprintf("%d %s", t.Rework, pluralOf(t.Rework, "rollback or hotfix", "rollbacks and hotfixes")),
			Detail: "releases that are rollbacks or hotfixes",
			Show:   "rework", LinkText: "Which releases were rework?"},
	}
	return out
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
func distWords(what string, d doraDist) string {
	if d.Count == 0 || d.P50 == nil {
		return "no " + what + " measured"
	}
	s := what + " p50 " + secondsWords(d.P50)
	if d.P90 != nil {
		s += ", p90 " + secondsWords(d.P90)
	}
	return s
}

// distShort is a distribution's p50 and p90 for a table cell, or none.
func distShort(d doraDist, none string) string {
	if d.Count == 0 || d.P50 == nil {
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
func doraCharts(trend []doraBucket) []*svgChart {
	type series struct {
		id, title, desc, ylabel, unit string
		value                         func(b *doraBucket) (float64, bool)
		format                        func(float64) string
		words                         func(b *doraBucket) string
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
			value:  func(b *doraBucket) (float64, bool) { return float64(b.Deployments), true },
			format: chartNumber,
			words:  func(b *doraBucket) string { return strconv.Itoa(b.Deployments) }},
		{id: "trend-cfr", title: "Change failure rate per week", ylabel: "%",
			desc: "The share of each week's deployments that failed, in percent; a week without deployments has no rate.",
			value: func(b *doraBucket) (float64, bool) {
				if b.ChangeFailureRate == nil {
					return 0, false
				}
				return *b.ChangeFailureRate * 100, true
			},
			format: chartPercent,
			words:  func(b *doraBucket) string { return rateWords(b.ChangeFailureRate, b.Failures, b.Deployments) }},
		{id: "trend-lead", title: "Lead time p50 per week", ylabel: "hours",
			desc:   "The median time from commit to succeeded of each week's deployments, in hours.",
			value:  func(b *doraBucket) (float64, bool) { return hours(b.LeadTime.P50) },
			format: hoursWords,
			words:  func(b *doraBucket) string { return distShort(b.LeadTime, "no deployments") }},
		{id: "trend-recovery", title: "Recovery time p50 per week", ylabel: "hours",
			desc:   "The median time to recover from the failures detected each week, in hours.",
			value:  func(b *doraBucket) (float64, bool) { return hours(b.Recovery.P50) },
			format: hoursWords,
			words:  func(b *doraBucket) string { return distShort(b.Recovery, "no recoveries") }},
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

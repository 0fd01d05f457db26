package webui

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

func f64(f float64) *float64 { return &f }

// The Metrics page says each number in words a person reads aloud.
func TestDORANumbersInWords(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{durationWords(45 * time.Second), "45 s"},
		{durationWords(14 * time.Minute), "14 min"},
		{durationWords(14*time.Minute + 5*time.Second), "14 min 5 s"},
		{durationWords(3*time.Hour + 10*time.Minute + 20*time.Second), "3 h 10 min"},
		{durationWords(26*time.Hour + 59*time.Second), "1 d 2 h"},
		{durationWords(48 * time.Hour), "2 d"},
		{durationWords(-time.Second), "0 s"},
		{frequencyWords(70, 30), "2.3 deployments a day"},
		{frequencyWords(30, 30), "1 deployment a day"},
		{frequencyWords(8, 30), "1.9 deployments a week"},
		{frequencyWords(1, 7), "1 deployment a week"},
		{frequencyWords(2, 90), "2 deployments in 90 days"},
		{frequencyWords(0, 30), "no deployments"},
		{rateWords(f64(0.12), 3, 25), "12% (3 of 25)"},
		{rateWords(f64(1.0/3), 1, 3), "33.3% (1 of 3)"},
		{rateWords(nil, 0, 0), "no deployments to measure"},
		{distWords("lead time", shipgate.DORADuration{N: 4, P50: f64(3*3600 + 600), P90: f64(26 * 3600)}), "lead time p50 3 h 10 min, p90 1 d 2 h"},
		{distWords("recovery", shipgate.DORADuration{N: 1, P50: f64(14 * 60), P90: f64(14 * 60)}), "recovery p50 14 min, p90 14 min"},
		{distWords("recovery", shipgate.DORADuration{}), "no recovery measured"},
		{distShort(shipgate.DORADuration{}, "no recoveries"), "no recoveries"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// A bad window or drill-down is a clear error; the defaults are 30 days
// and no drill-down.
func TestInsightsFilter(t *testing.T) {
	f, err := parseInsightsFilter(url.Values{"service": {" web "}})
	if err != nil || f.Window != "30d" || f.Service != "web" || f.Show != "" {
		t.Fatalf("defaults: %+v, %v", f, err)
	}
	if got := f.Link("failures"); got != "/insights?service=web&show=failures&window=30d" {
		t.Errorf("link %q", got)
	}
	if got := f.apiQuery(); got != "bucket=week&service=web&since=30d" {
		t.Errorf("API query %q", got)
	}
	for q, want := range map[string]string{
		"window=1y":                        `window must be one of 7d, 30d, 90d, not "1y"`,
		"show=everything":                  `show must be one of deployments, lead_time, failures, recoveries, rework, not "everything"`,
		"team=" + strings.Repeat("x", 201): "longer than 200 characters",
	} {
		v, _ := url.ParseQuery(q)
		if _, err := parseInsightsFilter(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", q, err, want)
		}
	}
}

// Every weekly trend chart has a title, a description and a table with a
// row per week that says a week without a value in words, not as a zero.
func TestTrendChartsHaveTextAlternatives(t *testing.T) {
	w0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	trend := []shipgate.DORATrend{
		{Start: w0, End: w0.AddDate(0, 0, 7), Metrics: shipgate.DORAMetrics{Deployments: 4, FailedDeployments: 1, ChangeFailRate: f64(0.25),
			LeadTime:     shipgate.DORAStages{CommitToSucceeded: shipgate.DORADuration{N: 4, P50: f64(7200), P90: f64(9000)}},
			RecoveryTime: shipgate.DORADuration{N: 1, P50: f64(840), P90: f64(840)}}},
		{Start: w0.AddDate(0, 0, 7), End: w0.AddDate(0, 0, 14)},
	}
	charts := doraCharts(trend)
	if len(charts) != 4 {
		t.Fatalf("%d charts, want 4", len(charts))
	}
	want := map[string][2]string{
		"trend-deployments": {"4", "0"},
		"trend-cfr":         {"25% (1 of 4)", "no deployments to measure"},
		"trend-lead":        {"p50 2 h, p90 2 h 30 min", "no deployments"},
		"trend-recovery":    {"p50 14 min, p90 14 min", "no recoveries"},
	}
	for _, c := range charts {
		if c.Title == "" || c.Desc == "" || c.Empty {
			t.Errorf("%s: title %q desc %q empty %v", c.ID, c.Title, c.Desc, c.Empty)
		}
		if len(c.Rows) != 2 || c.Rows[0][0] != "week of 2 Nov 2026" || c.Rows[1][0] != "week of 9 Nov 2026" {
			t.Fatalf("%s rows %v", c.ID, c.Rows)
		}
		if w := want[c.ID]; c.Rows[0][1] != w[0] || c.Rows[1][1] != w[1] {
			t.Errorf("%s: cells %q, %q; want %q", c.ID, c.Rows[0][1], c.Rows[1][1], w)
		}
		if len(c.XTicks) == 0 || c.XTicks[0].Label != "2 Nov" {
			t.Errorf("%s: x ticks %v", c.ID, c.XTicks)
		}
		if len(c.Series) != 1 || len(c.Series[0].Dots) == 0 {
			t.Errorf("%s: series %+v", c.ID, c.Series)
		}
	}
	// Only the week with deployments has a change failure rate point.
	if n := len(charts[1].Series[0].Dots); n != 1 {
		t.Errorf("CFR chart has %d points, want 1 (the empty week is a gap)", n)
	}
	if empty := doraCharts(nil); !empty[0].Empty {
		t.Errorf("no weeks: chart not marked empty")
	}
}

// Date ticks stay at most seven, however many weeks.
func TestDateTicksAtMostSeven(t *testing.T) {
	var ps []chartPoint
	for i := range 13 {
		ps = append(ps, chartPoint{At: time.Date(2026, 9, 7+7*i, 0, 0, 0, 0, time.UTC), Y: float64(i)})
	}
	c := chartSpec{ID: "x", Title: "x", Dates: true, Series: []chartSeries{{Name: "x", Points: ps}}}.layout()
	if n := len(c.XTicks); n == 0 || n > 7 {
		t.Errorf("%d ticks", n)
	}
}

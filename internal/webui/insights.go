package webui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/dora"
)

// The Metrics page (/insights; /metrics is the Prometheus scrape path): the
// four DORA numbers and rework for a service, environment, team and window,
// each in plain words and linking to the releases behind it; weekly trends
// as server-rendered charts; the per service and environment breakdown,
// production first. Everything is read from the API's metrics route, so the
// page shows exactly the numbers `shipgate metrics dora` prints.

// insightsWindows are the windows the page offers, in the API's words.
var insightsWindows = []string{"7d", "30d", "90d"}

// insightsShows are the drill-downs: which releases stand behind a number.
var insightsShows = map[string]string{
	"deployments": "Deployments",
	"lead_time":   "Lead time of each deployment",
	"failures":    "Which deploys failed?",
	"recoveries":  "Recoveries",
	"rework":      "Rework: rollbacks and hotfixes",
}

// Bounds that keep the page within its weight whatever the history: a
// drill-down lists the newest releases and the breakdown the first rows
// (production first); the rest is counted, and the CLI's -o json has all.
const (
	maxDrillRows     = 100
	maxBreakdownRows = 100
)

func (s *Server) insightsRoutes() []route {
	return []route{
		{"GET /insights", s.insightsPage},
	}
}

// insightsFilter is the page's query: what the numbers are computed over.
type insightsFilter struct {
	Service, Environment, Team, Window, Show string
}

// parseInsightsFilter reads and checks the page's query; bad input is a
// clear error and nothing is computed.
func parseInsightsFilter(q url.Values) (insightsFilter, error) {
	f := insightsFilter{Service: strings.TrimSpace(q.Get("service")), Environment: strings.TrimSpace(q.Get("environment")),
		Team: strings.TrimSpace(q.Get("team")), Window: q.Get("window"), Show: q.Get("show")}
	if f.Window == "" {
		f.Window = "30d"
	}
	if !slices.Contains(insightsWindows, f.Window) {
		return f, shipgate.Errorf(shipgate.EINVALID, "window must be one of %s, not %q", strings.Join(insightsWindows, ", "), f.Window)
	}
	if _, ok := insightsShows[f.Show]; f.Show != "" && !ok {
		return f, shipgate.Errorf(shipgate.EINVALID, "show must be one of deployments, lead_time, failures, recoveries, rework, not %q", f.Show)
	}
	for _, v := range []string{f.Service, f.Environment, f.Team} {
		if len(v) > 200 {
			return f, shipgate.Errorf(shipgate.EINVALID, "a filter value is longer than 200 characters")
		}
	}
	return f, nil
}

// query is the filter as a query string, with show replaced (empty: none).
func (f insightsFilter) query(show string) string {
	q := url.Values{}
	for k, v := range map[string]string{"service": f.Service, "environment": f.Environment, "team": f.Team, "window": f.Window, "show": show} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// Link is the page's address for a drill-down of this filter.
func (f insightsFilter) Link(show string) string { return "/insights?" + f.query(show) }

// apiQuery is the filter in the API route's words: since is the window,
// trends are weekly.
func (f insightsFilter) apiQuery() string {
	q := url.Values{"since": {f.Window}, "bucket": {"week"}}
	for k, v := range map[string]string{"service": f.Service, "environment": f.Environment, "team": f.Team} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

type insightsData struct {
	Filter       insightsFilter
	Windows      []string
	Services     []string
	Environments []string
	Teams        []string
	Report       *shipgate.DORAReport
	Numbers      []insightsNumber
	Charts       []*svgChart
	Breakdown    []breakdownRow
	// MoreBreakdown counts the rows past maxBreakdownRows.
	MoreBreakdown int
	// Drill is the drill-down asked for (Filter.Show), nil without one.
	Drill *insightsDrill
	Gates *gatesView
}

func (insightsData) PageTitle() string { return "Metrics" }

// insightsNumber is one headline number: its name, the plain words, and
// where its releases are listed.
type insightsNumber struct {
	Name, Words, Detail, Show, LinkText string
}

// insightsDrill is the list behind one number.
type insightsDrill struct {
	Show, Title string
	Items       []doraItem
	More        int
	// Cause, Means and Duration say which columns the list has.
	Cause, Means, Duration, Lead, Rework bool
	// Detected: the time column is when the failure was detected (not
	// when the release was deployed).
	Detected bool
}

func (s *Server) insightsPage(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := parseInsightsFilter(r.URL.Query())
	if err != nil {
		return err
	}
	var services []*shipgate.Service
	if err := c.API("GET", "/api/v1/services", nil, &services); err != nil {
		return err
	}
	var rep shipgate.DORAReport
	if err := c.API("GET", "/api/v1/metrics/dora?"+f.apiQuery(), nil, &rep); err != nil {
		return err
	}
	var kpis shipgate.GateKPIs
	if err := c.API("GET", "/api/v1/metrics/gates?"+f.gatesQuery(), nil, &kpis); err != nil {
		return err
	}
	d := insightsData{Filter: f, Windows: insightsWindows, Report: &rep, Gates: gatesViewOf(&kpis)}
	d.Services, d.Environments, d.Teams = insightsChoices(services)
	days := windowDays(f.Window)
	if span := rep.Until.Sub(rep.Since); span > 0 {
		days = span.Hours() / 24
	}
	d.Numbers = doraNumbers(&rep.Totals, days)
	d.Charts = doraCharts(rep.Trend)
	for i, b := range rep.Breakdown {
		if i == maxBreakdownRows {
			d.MoreBreakdown = len(rep.Breakdown) - i
			break
		}
		d.Breakdown = append(d.Breakdown, breakdownRow{b})
	}
	if f.Show != "" {
		d.Drill = drillDown(&rep, f.Show)
	}
	s.render(w, r, c, http.StatusOK, "insights", d)
	return nil
}

// insightsChoices are the filter's choices: the services, the
// environments any of them declares, and the owner groups (teams).
func insightsChoices(services []*shipgate.Service) (names, envs, teams []string) {
	seenEnv, seenTeam := map[string]bool{}, map[string]bool{}
	for _, svc := range services {
		names = append(names, svc.Name)
		for _, e := range svc.Spec.Environments {
			if !seenEnv[e.Name] {
				seenEnv[e.Name] = true
				envs = append(envs, e.Name)
			}
		}
		if o := svc.Spec.Owner; o != "" && !seenTeam[o] {
			seenTeam[o] = true
			teams = append(teams, o)
		}
	}
	slices.Sort(names)
	slices.SortFunc(envs, func(a, b string) int {
		if pa, pb := dora.IsProduction(a), dora.IsProduction(b); pa != pb {
			if pa {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	slices.Sort(teams)
	return names, envs, teams
}

// windowDays is a window's length in days ("30d" → 30).
func windowDays(w string) float64 {
	switch w {
	case "7d":
		return 7
	case "90d":
		return 90
	}
	return 30
}

// drillDown is the list of releases behind number show, newest first.
// "Which deploys failed?" lists exactly the deployments the change
// failure rate counts, each with its failure's causes and recovery. The
// API keeps the newest entries of a long list; the totals count them all,
// so the page says how many more there are from the totals.
func drillDown(rep *shipgate.DORAReport, show string) *insightsDrill {
	d := &insightsDrill{Show: show, Title: insightsShows[show]}
	t := &rep.Totals
	var items []doraItem
	total := 0
	switch show {
	case "deployments", "lead_time", "rework":
		d.Lead, d.Rework = show == "lead_time", show == "rework"
		total = t.Deployments
		if show == "rework" {
			total = t.Rework
		}
		for _, x := range slices.Backward(rep.Deployments) {
			if show != "rework" || x.Rework != "" {
				items = append(items, deploymentItem(x))
			}
		}
	case "failures":
		d.Cause, d.Means, d.Duration = true, true, true
		total = t.FailedDeployments
		why := map[int64]shipgate.DORAFailure{}
		for _, x := range rep.Failures {
			why[x.Release] = x
		}
		for _, x := range slices.Backward(rep.Deployments) {
			if !x.Failed {
				continue
			}
			it := deploymentItem(x)
			if fl, ok := why[x.Release]; ok {
				it.Causes, it.RecoveredBy, it.RecoveredWith, it.RecoverySeconds = fl.Causes, fl.RecoveredBy, fl.RecoveredWith, fl.RecoverySeconds
			}
			items = append(items, it)
		}
	case "recoveries":
		d.Cause, d.Means, d.Duration, d.Detected = true, true, true, true
		total = t.Recovered
		for _, x := range slices.Backward(rep.Failures) {
			if x.RecoveredAt != nil {
				items = append(items, failureItem(x))
			}
		}
	}
	if len(items) > maxDrillRows {
		items = items[:maxDrillRows]
	}
	d.Items = items
	d.More = max(total, len(items)) - len(items)
	return d
}

// LeadWords and RecoverWords are a drill-down row's durations in words
// ("3 h 10 min").
func (it doraItem) LeadWords() string    { return secondsWords(it.LeadSeconds) }
func (it doraItem) RecoverWords() string { return secondsWords(it.RecoverySeconds) }

func secondsWords(s *float64) string {
	if s == nil {
		return "–"
	}
	return durationWords(time.Duration(*s * float64(time.Second)))
}

package webui

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// The rollout view: where each rollout of a release's current run stands,
// its history as charts (weight, traffic per version, the judges'
// evidence), every analysis decision with its reason, and Promote and
// Abort. It is a section of the release page (template "rollout") and a
// page of its own at /releases/{id}/rollout.

// rolloutRoutes: the rollout page, its two actions, and the job logs.
func (s *Server) rolloutRoutes() []route {
	return append([]route{
		{"GET /releases/{id}/rollout", s.rolloutPage},
		{"GET /releases/{id}/rollout/live", s.live(s.rolloutLive)},
		{"POST /releases/{id}/promote", s.promoteRollout},
		{"POST /releases/{id}/abort", s.abortRollout},
	}, s.logRoutes()...)
}

// rolloutPhases gives each rollout phase its symbol, beside its words.
var rolloutPhases = map[string]string{
	shipgate.RolloutStarting: "…", shipgate.RolloutProgressing: "▶", shipgate.RolloutPaused: "‖",
	shipgate.RolloutPromoted: "✔", shipgate.RolloutAborted: "✖",
}

// analysisPhases does the same for a decision's phase.
var analysisPhases = map[string]string{
	shipgate.AnalysisSuccessful: "✔", shipgate.AnalysisFailed: "✖", shipgate.AnalysisInconclusive: "?", shipgate.AnalysisError: "!",
}

// rolloutView is the data of template "rollout".
type rolloutView struct {
	ReleaseID int64
	Rollouts  []*rolloutItem
	// Older attempts of the same jobs, told in one line each.
	Earlier []*rolloutItem
	// Promote is shown when a rollout waits for a person; Abort while the
	// release is not final. A "why not" says in words why the caller
	// cannot use it.
	ShowPromote, ShowAbort bool
	PromoteWhy, AbortWhy   string
	PromoteWhat            string
	// From is the page the forms return to: "rollout" on the rollout
	// page, "release" on the release page (see rolloutBack).
	From string
}

// rolloutItem is one rollout attempt.
type rolloutItem struct {
	client.Rollout
	Symbol    string
	Phase     string // in words
	Charts    []*svgChart
	Decisions []decisionRow
	NoHistory bool
}

// decisionRow is an analysis decision as the table shows it.
type decisionRow struct {
	shipgate.AnalysisDecision
	Symbol, Where string
}

// rolloutSection is the data of template "rollout" for a release view;
// nil when the release's current run has no rollout.
func (s *Server) rolloutSection(c *call, v *client.ReleaseView) (any, error) {
	if v == nil || v.Release == nil || len(v.Rollouts) == 0 {
		return nil, nil
	}
	d := &rolloutView{ReleaseID: v.ID, From: "release"}
	if p := c.r.URL.Path; strings.HasSuffix(p, "/rollout") || strings.HasSuffix(p, "/rollout/live") {
		d.From = "rollout"
	}
	// The latest attempt of each job gets the full view.
	latest := map[string]int{}
	for _, ro := range v.Rollouts {
		latest[ro.Job] = max(latest[ro.Job], ro.Attempt)
	}
	strategyOf := map[string]*shipgate.Strategy{}
	for _, j := range v.Pipeline.Jobs {
		strategyOf[j.Name] = j.Strategy
	}
	for _, ro := range v.Rollouts {
		it := &rolloutItem{Rollout: ro, Symbol: rolloutPhases[ro.Status.Phase], Phase: ro.Status.Phase}
		if ro.Attempt != latest[ro.Job] {
			d.Earlier = append(d.Earlier, it)
			continue
		}
		var h shipgate.RolloutHistory
		q := url.Values{"job": {ro.Job}, "attempt": {strconv.Itoa(ro.Attempt)}, "points": {strconv.Itoa(maxChartPoints)}}
		if err := c.API("GET", fmt.Sprintf("/api/v1/releases/%d/rollouts/history?%s", v.ID, q.Encode()), nil, &h); err != nil {
			if shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
				return nil, err
			}
			it.NoHistory = true
		}
		it.Charts = rolloutCharts(ro, &h, strategyOf[ro.Job])
		it.NoHistory = it.NoHistory || len(h.Points) == 0
		for _, dd := range h.Decisions {
			where := fmt.Sprintf("step %d", dd.Step)
			if dd.Background {
				where = fmt.Sprintf("background (acted on at step %d)", dd.Step)
			}
			it.Decisions = append(it.Decisions, decisionRow{AnalysisDecision: dd, Symbol: analysisPhases[dd.Phase], Where: where})
		}
		d.Rollouts = append(d.Rollouts, it)
	}
	final := v.State.Final()
	for _, it := range d.Rollouts {
		if it.Status.Phase == shipgate.RolloutPaused && !final {
			d.ShowPromote = true
			d.PromoteWhat = fmt.Sprintf("pause %d of job %s at step %d: %s", it.Status.Pause, it.Job, it.Status.Step, it.Status.Paused)
		}
	}
	if d.ShowPromote && !c.Can(string(shipgate.PermPromote)) {
		d.PromoteWhy = rolloutNotAllowed(c, shipgate.PermPromote, "promote a rollout")
	}
	d.ShowAbort = !final
	if d.ShowAbort && !c.Can(string(shipgate.PermReleaseCancel)) {
		d.AbortWhy = rolloutNotAllowed(c, shipgate.PermReleaseCancel, "abort a rollout (which cancels its release)")
	}
	return d, nil
}

// rolloutNotAllowed says why the caller's roles do not allow an action.
func rolloutNotAllowed(c *call, p shipgate.Permission, what string) string {
	roles := make([]string, len(c.User.Roles))
	for i, r := range c.User.Roles {
		roles[i] = string(r)
	}
	return fmt.Sprintf("You cannot %s: your roles (%s) do not include the %s permission; a deployer or an admin can.", what, strings.Join(roles, ", "), p)
}

// rolloutCharts draws a rollout's history.
func rolloutCharts(ro client.Rollout, h *shipgate.RolloutHistory, st *shipgate.Strategy) []*svgChart {
	id := func(what string) string { return fmt.Sprintf("chart-%s-%d-%s", ro.Job, ro.Attempt, what) }
	zero, hundred := 0.0, 100.0
	weight := chartSeries{Name: "new version's share"}
	type key struct{ role, version string }
	var order []key
	reqs, errs, slow := map[key]*chartSeries{}, map[key]*chartSeries{}, map[key]*chartSeries{}
	for _, p := range h.Points {
		weight.Points = append(weight.Points, chartPoint{At: p.At, Y: float64(p.Weight)})
		for _, t := range p.Traffic {
			k := key{t.Role, t.Version}
			if reqs[k] == nil {
				order = append(order, k)
				name := t.Role + " " + t.Version
				reqs[k], errs[k], slow[k] = &chartSeries{Name: name}, &chartSeries{Name: name + " errors"}, &chartSeries{Name: name + " slow"}
			}
			reqs[k].Points = append(reqs[k].Points, chartPoint{At: p.At, Y: float64(t.Requests)})
			errs[k].Points = append(errs[k].Points, chartPoint{At: p.At, Y: float64(t.Errors)})
			slow[k].Points = append(slow[k].Points, chartPoint{At: p.At, Y: float64(t.Slow)})
		}
	}
	var reqSeries, badSeries []chartSeries
	for _, k := range order {
		reqSeries = append(reqSeries, *reqs[k])
		badSeries = append(badSeries, *errs[k], *slow[k])
	}
	charts := []*svgChart{
		chartSpec{ID: id("weight"), Title: "Traffic weight over time", YLabel: "% of traffic",
			Desc: "The new version's share of traffic, in percent, at each report of the rollout.",
			Step: true, YMin: &zero, YMax: &hundred, Format: chartPercent, Series: []chartSeries{weight}}.layout(),
		chartSpec{ID: id("requests"), Title: "Requests per version", YLabel: "requests",
			Desc: "Requests each version served since the rollout started (cumulative), as the router counted them.", Series: reqSeries}.layout(),
		chartSpec{ID: id("errors"), Title: "Errors and slow requests per version", YLabel: "requests",
			Desc:   "Errors (5xx and transport errors) and slow requests (slower than the stable version's p90 over the minute before, the sequential judge's measure) each version served since the rollout started (cumulative).",
			Series: badSeries}.layout(),
	}
	if c := evidenceChart(id("evalues"), h); c != nil {
		charts = append(charts, c)
	}
	charts = append(charts, metricCharts(id, h, st)...)
	return charts
}

// evidenceChart draws the sequential judges' e-values against their
// thresholds: each second's standing, and the value at each decision.
func evidenceChart(id string, h *shipgate.RolloutHistory) *svgChart {
	series := map[string]*chartSeries{}
	var order []string
	thresholds := map[string]float64{}
	add := func(judge string, kind string, p chartPoint) {
		name := judge + " e-value (" + kind + ")"
		if series[name] == nil {
			series[name] = &chartSeries{Name: name}
			order = append(order, name)
		}
		s := series[name]
		s.Points = append(s.Points, p)
	}
	judgeName := func(step int, background bool) string {
		if background || step == 0 {
			return "background"
		}
		return fmt.Sprintf("step %d", step)
	}
	for _, p := range h.Points {
		for _, pr := range p.Progress {
			if pr.Judge != "sequential" {
				continue
			}
			for _, kind := range []string{"errors", "slow", "tail"} {
				if e, ok := pr.E[kind]; ok {
					add(judgeName(pr.Step, pr.Background), kind, chartPoint{At: p.At, Y: e})
				}
				if th, ok := pr.Threshold[kind]; ok && th > 0 {
					thresholds[kind] = th
				}
			}
		}
	}
	for _, d := range h.Decisions {
		if d.Judge != "sequential" {
			continue
		}
		for kind, keys := range map[string][2]string{"errors": {"e_errors", "threshold"}, "slow": {"e_slow", "threshold_slow"}, "tail": {"e_tail", "threshold_tail"}} {
			if e, ok := d.Evidence[keys[0]].(float64); ok {
				add(judgeName(d.Step, d.Background), kind, chartPoint{At: d.At, Y: e})
			}
			if th, ok := d.Evidence[keys[1]].(float64); ok && th > 0 {
				thresholds[kind] = th
			}
		}
	}
	if len(order) == 0 {
		return nil
	}
	slices.Sort(order)
	var ss []chartSeries
	for _, name := range order {
		s := *series[name]
		slices.SortStableFunc(s.Points, func(a, b chartPoint) int { return a.At.Compare(b.At) })
		ss = append(ss, s)
	}
	var rules []chartRule
	for _, kind := range []string{"errors", "slow", "tail"} {
		if th, ok := thresholds[kind]; ok {
			rules = append(rules, chartRule{Y: th, Label: fmt.Sprintf("rollback threshold (%s) %s", kind, chartNumber(th))})
		}
	}
	return chartSpec{ID: id, Title: "Sequential judge: e-values against the threshold", YLabel: "e-value (log scale)", Log: true,
		Desc:   "Each sequential judge's e-values for errors, slow and tail requests over time (log scale). The judge rolls back when an e-value reaches its threshold, drawn as a dashed line; below it there is no evidence the canary is worse than stable.",
		Series: ss, Rules: rules}.layout()
}

// metricCharts draws each threshold metric's measurements with their
// result against the metric's conditions.
func metricCharts(id func(string) string, h *shipgate.RolloutHistory, st *shipgate.Strategy) []*svgChart {
	conds := map[string]string{}
	for _, m := range strategyMetrics(st) {
		var cs []string
		if m.SuccessCondition != "" {
			cs = append(cs, "success when "+m.SuccessCondition)
		}
		if m.FailureCondition != "" {
			cs = append(cs, "failure when "+m.FailureCondition)
		}
		conds[m.Name] = strings.Join(cs, "; ")
	}
	series := map[string]*chartSeries{}
	var order []string
	for _, p := range h.Points {
		for _, pr := range p.Progress {
			if pr.Judge != "threshold" || len(pr.Values) == 0 {
				continue
			}
			s := series[pr.Metric]
			if s == nil {
				s = &chartSeries{Name: pr.Metric}
				series[pr.Metric] = s
				order = append(order, pr.Metric)
			}
			// A measurement stands until the next one; chart each once.
			if n := len(s.Points); n > 0 && s.Points[n-1].Y == pr.Values[0] && s.Notes[n-1] == pr.Result {
				continue
			}
			s.Points = append(s.Points, chartPoint{At: p.At, Y: pr.Values[0]})
			s.Notes = append(s.Notes, pr.Result)
		}
	}
	var out []*svgChart
	for i, name := range order {
		desc := fmt.Sprintf("The latest measurement of metric %s over time, with each measurement's result.", name)
		if c := conds[name]; c != "" {
			desc += " Conditions: " + c + "."
		}
		out = append(out, chartSpec{ID: id(fmt.Sprintf("metric%d", i)), Title: "Metric " + name + " against its conditions", YLabel: "value",
			Desc: desc, Series: []chartSeries{*series[name]}}.layout())
	}
	return out
}

// strategyMetrics lists every threshold metric a strategy declares.
func strategyMetrics(st *shipgate.Strategy) []shipgate.AnalysisMetric {
	if st == nil {
		return nil
	}
	var out []shipgate.AnalysisMetric
	add := func(a *shipgate.Analysis) {
		if a != nil {
			out = append(out, a.Metrics...)
		}
	}
	if c := st.Canary; c != nil {
		add(c.BackgroundAnalysis)
		for _, s := range c.Steps {
			add(s.Analysis)
		}
	}
	if b := st.BlueGreen; b != nil {
		add(b.Analysis)
	}
	return out
}

// rolloutPageData is the rollout view on a page of its own.
type rolloutPageData struct {
	Release *client.ReleaseView
	Rollout any
}

func (d rolloutPageData) PageTitle() string {
	return fmt.Sprintf("Rollout of release %d", d.Release.ID)
}

func (s *Server) rolloutPage(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := releaseOf(r, c)
	if err != nil {
		return err
	}
	ro, err := s.rolloutSection(c, v)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "release_rollout", rolloutPageData{Release: v, Rollout: ro})
	return nil
}

// rolloutBack is where a rollout form returns: the release page, or the
// rollout page when the form came from there. Only these two, so a form
// field can never send the browser elsewhere.
func rolloutBack(r *http.Request, id int64) string {
	if r.PostFormValue("from") == "rollout" {
		return fmt.Sprintf("/releases/%d/rollout", id)
	}
	return fmt.Sprintf("/releases/%d#rollout", id)
}

// promoteRollout continues a rollout paused for a person, through the API
// (which checks the permission, audits rollout.promoted with the session's
// user, and refuses a promote with nothing paused).
func (s *Server) promoteRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if err := c.API("POST", fmt.Sprintf("/api/v1/releases/%d/promote", id), client.PromoteRequest{Comment: comment}, nil); err != nil {
		return err
	}
	return redirect(w, r, rolloutBack(r, id))
}

// abortRollout aborts a rollout the way shipgate does: by cancelling its
// release, with the person's reason. The agent puts all traffic back on
// the stable version and stops the canary.
func (s *Server) abortRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		return shipgate.Errorf(shipgate.EINVALID, "say why you abort the rollout: the reason is recorded with the cancellation of release %d", id)
	}
	if err := c.API("POST", fmt.Sprintf("/api/v1/releases/%d/cancel", id), client.CancelRequest{Reason: reason}, nil); err != nil {
		return err
	}
	return redirect(w, r, rolloutBack(r, id))
}

// rolloutPoll is how often the live rollout view looks for a change: the
// agent reports every second.
const rolloutPoll = time.Second

// rolloutLive keeps the rollout page's section current: a "replace" event
// with the section re-rendered whenever it changed, and "end" once the
// release is final (after its final state was sent).
func (s *Server) rolloutLive(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	render := func() (string, bool, error) {
		var v client.ReleaseView
		if err := c.API("GET", fmt.Sprintf("/api/v1/releases/%d", id), nil, &v); err != nil {
			return "", false, err
		}
		d, err := s.rolloutSection(c, &v)
		if err != nil {
			return "", false, err
		}
		html, err := s.fragment("release_rollout", "rollout", c, d)
		return html, v.State.Final(), err
	}
	html, final, err := render()
	if err != nil {
		return err // before the stream: a refusal is a page with its status
	}
	st := openStream(w)
	last := sha256.Sum256([]byte(html)) // the page already shows the first render
	quiet := time.Now()
	for polls := 1; ; polls++ {
		if final {
			st.end()
			return nil
		}
		t := time.NewTimer(rolloutPoll)
		select {
		case <-r.Context().Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if polls%logRecheck == 0 {
			if _, err := s.session(r); err != nil {
				st.end()
				return nil
			}
		}
		if html, final, err = render(); err != nil {
			s.Logger.Warn("live rollout view stopped", "release", id, "err", err)
			st.end()
			return nil
		}
		if sum := sha256.Sum256([]byte(html)); sum != last && strings.TrimSpace(html) != "" {
			last = sum
			if st.replace("rollout", html) != nil {
				return nil
			}
			quiet = time.Now()
		} else if time.Since(quiet) >= logKeepAlive {
			if st.comment() != nil {
				return nil
			}
			quiet = time.Now()
		}
	}
}

package webui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// metricsService deploys to staging and production without approvals;
// release-managers owns it (the team filter).
const metricsService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  owner: release-managers
  environments:
    - name: staging
      approvals: {required: 0}
    - name: production
      approvals: {required: 0}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// metricsHistory is a small known history: staging 1.0, production 1.0
// and 1.1 (each committed an hour before the next), then a rollback of
// production by hand, which marks 1.1 failed and restores 1.0.
type metricsHistory struct {
	staging, prod1, prod2, rollback int64
}

func seedMetricsHistory(t *testing.T, f *fixture) metricsHistory {
	t.Helper()
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "shop.yaml", []byte(metricsService)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	create := func(env, version string, committed time.Time) int64 {
		v, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "shop", Environment: env, Version: version,
			Artifact: artifact(t, env+version), Commit: strings.Repeat("a", 40), CommittedAt: &committed})
		if err != nil {
			t.Fatal(err)
		}
		f.run(t, v.ID)
		return v.ID
	}
	var h metricsHistory
	h.staging = create("staging", "1.0", now.Add(-3*time.Hour))
	h.prod1 = create("production", "1.0", now.Add(-2*time.Hour))
	h.prod2 = create("production", "1.1", now.Add(-time.Hour))
	rb, err := admin.Rollback(ctx, client.RollbackRequest{Service: "shop", Environment: "production", Reason: "1.1 breaks checkout"})
	if err != nil {
		t.Fatal(err)
	}
	f.run(t, rb.ID)
	h.rollback = rb.ID
	return h
}

// getJSON reads an API route as the viewer: the answer the page must
// agree with.
func getJSON(t *testing.T, f *fixture, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// section is the HTML of the element with id, up to its closing tag
// name.
func section(t *testing.T, page, id, tag string) string {
	t.Helper()
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no #%s in the page", id)
	}
	j := strings.Index(page[i:], "</"+tag+">")
	if j < 0 {
		t.Fatalf("#%s is not closed", id)
	}
	return page[i : i+j]
}

func releaseLink(id int64) string { return fmt.Sprintf(`href="/releases/%d"`, id) }

// A viewer reads the Metrics page: the numbers in words agree with the
// API's, each drill-down lists exactly the releases behind its number, the
// charts have text alternatives, and bad input is refused.
func TestMetricsPage(t *testing.T) {
	f := newFixture(t)
	h := seedMetricsHistory(t, f)
	var rep shipgate.DORAReport
	getJSON(t, f, "/api/v1/metrics/dora?since=30d&bucket=week", &rep)
	tot := rep.Totals
	if tot.Deployments != 4 || tot.FailedDeployments != 1 || tot.Rework != 1 || tot.RecoveryTime.N != 1 {
		t.Fatalf("the API's totals are not the history's: %+v", tot)
	}

	viewer := f.browser(t)
	viewer.login("viewer")
	code, page, _ := viewer.get("/insights")
	if code != 200 {
		t.Fatalf("GET /insights: %d\n%s", code, page)
	}
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("%d h1 elements", n)
	}
	if !strings.Contains(page, `<a href="/insights">Metrics</a>`) {
		t.Error("no Metrics link in the navigation")
	}
	numbers := section(t, page, "numbers", "ul")
	mustContain(t, numbers, "Deployment frequency", "4 deployments in 30 days", "Change lead time", "lead time p50 ",
		"Change failure rate", "25% (1 of 4)", "Failed deployment recovery time", "recovery p50 ", "25% (1 of 4) rework",
		`href="/insights?show=failures&amp;window=30d#drill"`, "Which deploys failed?")
	// The lead time p50 the page says is the API's, in words.
	lt := tot.LeadTime.CommitToSucceeded
	if lt.N != 3 || lt.P50 == nil {
		t.Fatalf("lead time %+v, want 3 deployments measured", lt)
	}
	if got := regexp.MustCompile(`lead time p50 (\d+ h( \d+ min)?)`).FindStringSubmatch(numbers); got == nil ||
		(got[1] != "2 h" && !strings.HasPrefix(got[1], "1 h 59")) {
		t.Errorf("lead time words %v, API p50 %.0f s", got, *lt.P50)
	}

	// Which deploys failed? 1.1 in production, recovered by the rollback.
	_, page, _ = viewer.get("/insights?show=failures")
	drill := section(t, page, "drill", "section")
	mustContain(t, drill, "Which deploys failed?", releaseLink(h.prod2), releaseLink(h.rollback), "rollback", "1.1")
	for _, id := range []int64{h.staging, h.prod1} {
		if strings.Contains(drill, releaseLink(id)) {
			t.Errorf("release %d is listed among the failures", id)
		}
	}
	// Deployments: all four, newest first.
	_, page, _ = viewer.get("/insights?show=deployments")
	drill = section(t, page, "drill-list", "table")
	var at []int
	for _, id := range []int64{h.rollback, h.prod2, h.prod1, h.staging} {
		at = append(at, strings.Index(drill, releaseLink(id)))
	}
	if at[0] < 0 || at[1] < at[0] || at[2] < at[1] || at[3] < at[2] {
		t.Errorf("deployments not all listed newest first: positions %v", at)
	}
	// Rework: only the rollback.
	_, page, _ = viewer.get("/insights?show=rework")
	drill = section(t, page, "drill-list", "table")
	if !strings.Contains(drill, releaseLink(h.rollback)) || strings.Contains(drill, releaseLink(h.prod2)) {
		t.Errorf("rework list:\n%s", drill)
	}

	// Filters: staging alone has one deployment and no failure; the team
	// filter is the owner group.
	_, page, _ = viewer.get("/insights?environment=staging&window=7d")
	mustContain(t, section(t, page, "numbers", "ul"), "1 deployment a week", "0% (0 of 1)", "no recovery measured")
	mustContain(t, page, `<option selected>staging</option>`, `<option value="7d" selected>last 7d</option>`)
	_, page, _ = viewer.get("/insights?team=release-managers")
	mustContain(t, section(t, page, "numbers", "ul"), "25% (1 of 4)")
	mustContain(t, page, `<option selected>release-managers</option>`)
	if code, page, _ := viewer.get("/insights?team=nobody"); code != http.StatusBadRequest || !strings.Contains(page, `team &#34;nobody&#34;`) {
		t.Errorf("a team that owns nothing: %d\n%s", code, page)
	}

	// The breakdown: production first.
	_, page, _ = viewer.get("/insights")
	bd := section(t, page, "breakdown", "table")
	if p, s := strings.Index(bd, "<td>production</td>"), strings.Index(bd, "<td>staging</td>"); p < 0 || s < 0 || p > s {
		t.Errorf("breakdown not production first:\n%s", bd)
	}
	// Four trend charts, each an image with a title and a description,
	// and its figures as a table.
	if n := strings.Count(page, `<figure class="chart"`); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	for _, id := range []string{"trend-deployments", "trend-cfr", "trend-lead", "trend-recovery"} {
		c := section(t, page, id, "figure")
		mustContain(t, c, `role="img"`, `aria-labelledby="`+id+`-t `+id+`-d"`, `<title id="`+id+`-t">`, `<desc id="`+id+`-d">`,
			"the data as a table", "<th scope=\"col\">Week</th>", "week of ")
	}

	// Gates and rollouts: the figures are the gates route's.
	var kpis shipgate.GateKPIs
	getJSON(t, f, "/api/v1/metrics/gates?since=30d", &kpis)
	var deploy *shipgate.GateFigure
	for i, g := range kpis.Gates {
		if g.Kind == shipgate.GateKindJob && g.Name == "deploy" {
			deploy = &kpis.Gates[i]
		}
	}
	if deploy == nil || deploy.Passed != 4 || deploy.Failed != 0 || kpis.Rework.Rollbacks != 1 {
		t.Fatalf("the gates route's figures are not the history's: %+v", kpis)
	}
	mustContain(t, section(t, page, "gates", "table"), "<td>job</td><td>deploy</td><td>4</td><td>0</td><td>–</td><td>–</td>")
	mustContain(t, section(t, page, "kpis", "dl"), "1 rollback and 0 hotfixes of 4 releases (25%)", "p50 ", "(4 jobs)", "no canaries in this window")
	mustContain(t, section(t, page, "aborts", "table"), "No canary was aborted in this window.")

	// Bad input is refused in words.
	for q, want := range map[string]string{
		"window=1y":       "window must be one of 7d, 30d, 90d",
		"show=everything": "show must be one of",
	} {
		code, page, _ := viewer.get("/insights?" + q)
		if code != http.StatusBadRequest || !strings.Contains(page, want) {
			t.Errorf("/insights?%s: %d, want 400 with %q", q, code, want)
		}
	}
}

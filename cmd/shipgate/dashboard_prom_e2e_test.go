package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
	"github.com/shipgate/shipgate/internal/testutil/promtest"
)

// dashboardFile is the Grafana dashboard shipped for the control plane.
var dashboardFile = filepath.Join("..", "..", "deploy", "grafana", "shipgate.json")

// dashboardQuery is one panel target's PromQL.
type dashboardQuery struct {
	panel, refID, expr string
}

// dashboardQueries reads every panel target's expr from the dashboard,
// rows' nested panels included, and checks the dashboard's frame: a
// Prometheus datasource variable every panel and target uses.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource struct {
			Type, UID string
		} `json:"datasource"`
	}
	type panel struct {
		Title      string   `json:"title"`
		Type       string   `json:"type"`
		Targets    []target `json:"targets"`
		Panels     []panel  `json:"panels"`
		Datasource *struct {
			Type, UID string
		} `json:"datasource"`
	}
	var d struct {
		SchemaVersion int     `json:"schemaVersion"`
		UID           string  `json:"uid"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct{ Name, Type, Query any } `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion < 36 || d.UID == "" {
		t.Errorf("schemaVersion %d, uid %q: want a current schema and a stable uid", d.SchemaVersion, d.UID)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[fmt.Sprint(v.Name)] = fmt.Sprint(v.Type)
	}
	if vars["DS_PROMETHEUS"] != "datasource" {
		t.Errorf("no datasource variable DS_PROMETHEUS: %v", vars)
	}
	var out []dashboardQuery
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q does not use the ${DS_PROMETHEUS} datasource", p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.Datasource.UID != "${DS_PROMETHEUS}" {
					t.Errorf("panel %q target %s: expr %q, datasource %q", p.Title, tg.RefID, tg.Expr, tg.Datasource.UID)
				}
				out = append(out, dashboardQuery{p.Title, tg.RefID, tg.Expr})
			}
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVars stands in for what Grafana substitutes: All for the
// service and environment variables (their allValue), a rate interval
// that covers a few of the test Prometheus's 1s scrapes, and a range
// over the whole test.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "30s",
	"$__range", "1h",
	"${service}", ".*", "$service", ".*",
	"${environment}", ".*", "$environment", ".*",
)

// promQuery runs an instant query and returns how many series answered
// (for a scalar, 1).
func promQuery(promAddr, expr string) (int, error) {
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("prometheus refused the query: %s", r.Error)
	}
	if r.Data.ResultType == "scalar" {
		return 1, nil
	}
	return len(r.Data.Result), nil
}

// TestGrafanaDashboardQueries: every panel query of deploy/grafana/
// shipgate.json returns data from a real Prometheus scraping a real
// server that has some history (metricsHistory).
func TestGrafanaDashboardQueries(t *testing.T) {
	queries := dashboardQueries(t)
	if len(queries) < 20 {
		t.Fatalf("the dashboard has %d queries; DORA, gates, canary and health panels need more", len(queries))
	}
	s, metricsAddr, _ := metricsServer(t)
	metricsHistory(t, s)
	promAddr := promtest.Start(t, []string{metricsAddr})
	for _, q := range queries {
		expr := grafanaVars.Replace(q.expr)
		if strings.Contains(expr, "$") {
			t.Errorf("panel %q target %s: a variable the test does not substitute: %s", q.panel, q.refID, expr)
			continue
		}
		testutil.WaitForNil(t, fmt.Sprintf("panel %q target %s to return data", q.panel, q.refID), func() error {
			n, err := promQuery(promAddr, expr)
			if err != nil {
				return fmt.Errorf("%s: %w", expr, err)
			}
			if n == 0 {
				return fmt.Errorf("%s: no series", expr)
			}
			return nil
		})
	}
}

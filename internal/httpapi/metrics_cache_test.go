package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/shipgate/shipgate"
)

// TestMetricReportsCached: a metric report asked twice with nothing
// audited between is computed once; anything audited (here a service
// created) makes the next ask compute it again, for the DORA report and
// the gate KPIs alike.
func TestMetricReportsCached(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(rollbackAPIService)); err != nil {
		t.Fatal(err)
	}
	ask := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return resp.Header.Get("Shipgate-Report")
	}
	for _, path := range []string{"/api/v1/metrics/dora?since=7d", "/api/v1/metrics/gates?since=7d"} {
		if got := ask(path); got != "computed" {
			t.Fatalf("%s first ask: %q", path, got)
		}
		if got := ask(path); got != "cached" {
			t.Fatalf("%s second ask, nothing audited between: %q", path, got)
		}
		if got := ask(path + "&service=web"); got != "computed" {
			t.Fatalf("%s with another filter: %q", path, got)
		}
	}
	f.addUser(t, "zed", []shipgate.Role{shipgate.RoleViewer}) // audited
	for _, path := range []string{"/api/v1/metrics/dora?since=7d", "/api/v1/metrics/gates?since=7d"} {
		if got := ask(path); got != "computed" {
			t.Fatalf("%s after an audited change: %q", path, got)
		}
	}
}

package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/httpapi"
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

// TestMetricReportsWaitForASlot: with every computation slot busy, a
// report already computed is still answered from the cache, while one
// that must be computed waits, and gives up when its request ends,
// computing nothing.
func TestMetricReportsWaitForASlot(t *testing.T) {
	f := newFixture(t)
	// The request given up on is answered by nobody, which the checking
	// proxy of the fixture would report as an empty 200: this test talks to
	// the handler directly.
	direct := httptest.NewServer(f.h)
	defer direct.Close()
	get := func(ctx context.Context, path string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", direct.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Shipgate-Report"), nil
	}
	if code, how, err := get(ctx, "/api/v1/metrics/dora?since=7d"); err != nil || code != 200 || how != "computed" {
		t.Fatalf("first ask: %d %q %v", code, how, err)
	}
	release := httpapi.HoldMetricsSlots()
	defer release()
	if code, how, err := get(ctx, "/api/v1/metrics/dora?since=7d"); err != nil || code != 200 || how != "cached" {
		t.Fatalf("a cached report with every slot busy: %d %q %v", code, how, err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, _, err := get(short, "/api/v1/metrics/dora?since=8d"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an uncached report with every slot busy: %v, want the request to time out waiting", err)
	}
	release()
	// Computed now, or by the request given up on if the server had not
	// yet noticed its caller leave when the slots came free.
	if code, how, err := get(ctx, "/api/v1/metrics/dora?since=8d"); err != nil || code != 200 || how == "" {
		t.Fatalf("after the slots are free: %d %q %v", code, how, err)
	}
}

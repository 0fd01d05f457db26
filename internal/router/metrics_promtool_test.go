package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil/promtest"
)

// What /metrics serves after real traffic — stable, canary and preview
// backends, errors, pinned requests, a dead backend, awkward label values,
// a service with no backends — passes `promtool check metrics`, the
// Prometheus project's own linter of the exposition format.
func TestMetricsPassPromtool(t *testing.T) {
	r, url := newRouter(t)
	stable := newBackend(t, "s1", "v1", nil)
	canary := newBackend(t, "c1", "v2 \"beta\"\\", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusServiceUnavailable)
	})
	dead := newBackend(t, "d1", "v0", nil)
	deadSrv := httptest.NewServer(nil)
	dead.Addr = deadSrv.Listener.Addr().String()
	deadSrv.Close() // connections to it are refused: the router answers 502
	preview := newBackend(t, "p1", "v3", nil)
	if err := r.Serve("api", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	r.Set("web", Table{Stable: &stable, Canary: &canary, Weight: 50, Preview: &preview})
	r.Set("api", Table{Stable: &dead})
	r.Set("empty\nname", Table{})
	for range 20 {
		get(t, url, nil)
	}
	get(t, url, func(q *http.Request) { q.Header.Set("X-Shipgate-Version", "canary") })
	if code, _, _ := get(t, "http://"+r.Addr("api"), nil); code != http.StatusBadGateway {
		t.Fatalf("a dead backend answered %d", code)
	}

	// Scraped over HTTP, as Prometheus does.
	metrics := httptest.NewServer(r.MetricsHandler())
	defer metrics.Close()
	resp, err := http.Get(metrics.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`role="preview"`, `role="canary"`, `shipgate_router_errors_total{service="api",version="v0",role="stable"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("the scrape has no %s:\n%s", want, body)
		}
	}
	promtest.CheckMetrics(t, body)
}

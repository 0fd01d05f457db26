package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A line of the text exposition format: a comment, or a sample with quoted,
// escaped label values and a number.
var (
	helpLine   = regexp.MustCompile(`^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$`)
	typeLine   = regexp.MustCompile(`^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram)$`)
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*)\} ([0-9.e+-]+|\+Inf)$`)
)

func scrape(t *testing.T, r *Router) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Body.String()
}

func TestMetricsExposition(t *testing.T) {
	r, url := newRouter(t)
	stable := newBackend(t, "s1", "v1", nil)
	canary := newBackend(t, "c1", `v2"\`, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", 503)
	})
	r.Set("web", Table{Stable: &stable, Canary: &canary, Weight: 0})
	for range 3 {
		get(t, url, nil)
	}
	for range 2 {
		get(t, url, func(q *http.Request) { q.Header.Set("X-Shipgate-Version", "canary") })
	}
	r.Set("web", Table{Stable: &stable, Canary: &canary, Weight: 30})
	r.Set("api\nv2", Table{}) // a service with an awkward name and no backends

	out := scrape(t, r)
	t.Log("\n" + out)
	if !strings.HasSuffix(out, "\n") {
		t.Error("no final newline")
	}
	typed := map[string]string{}
	var last string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch {
		case helpLine.MatchString(line):
		case typeLine.MatchString(line):
			f := strings.Fields(line)
			if _, dup := typed[f[2]]; dup {
				t.Errorf("family %s declared twice", f[2])
			}
			typed[f[2]] = f[3]
			last = f[2]
		case sampleLine.MatchString(line):
			name := sampleLine.FindStringSubmatch(line)[1]
			if name != last && strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count") != last {
				t.Errorf("sample %s outside its family %s", name, last)
			}
		default:
			t.Errorf("malformed line %q", line)
		}
	}
	for _, want := range []string{
		// Pinned requests are counted apart, not as the canary's share.
		`shipgate_router_requests_total{service="web",version="v2\"\\",role="canary"} 0`,
		`shipgate_router_pinned_requests_total{service="web",version="v2\"\\",role="canary"} 2`,
		`shipgate_router_errors_total{service="web",version="v2\"\\",role="canary"} 0`,
		`shipgate_router_requests_total{service="web",version="v1",role="stable"} 3`,
		`shipgate_router_errors_total{service="web",version="v1",role="stable"} 0`,
		`shipgate_router_request_duration_seconds_count{service="web",version="v2\"\\",role="canary"} 0`,
		`shipgate_router_request_duration_seconds_bucket{service="web",version="v2\"\\",role="canary",le="+Inf"} 0`,
		`shipgate_router_canary_weight{service="web"} 30`,
		`shipgate_router_canary_weight{service="api\nv2"} 0`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	if typed["shipgate_router_request_duration_seconds"] != "histogram" || typed["shipgate_router_requests_total"] != "counter" || typed["shipgate_router_canary_weight"] != "gauge" {
		t.Errorf("types %v", typed)
	}
	if again := scrape(t, r); again != out {
		t.Error("output not stable between scrapes")
	}
}

func TestMetricsHistogramBuckets(t *testing.T) {
	var m meter
	for _, d := range []time.Duration{500 * time.Microsecond, 3 * time.Millisecond, 3 * time.Millisecond, 200 * time.Millisecond, time.Minute} {
		m.record(d, false)
	}
	counts, total := coarse(m.snapshot())
	if total != 5 {
		t.Fatalf("total %d", total)
	}
	want := map[string]uint64{"0.001": 1, "0.0025": 1, "0.005": 3, "0.1": 3, "0.25": 4, "10": 4}
	for i, b := range promBounds {
		if w, ok := want[b.le]; ok && counts[i] != w {
			t.Errorf("le=%s: %d, want %d", b.le, counts[i], w)
		}
	}
	if !slices.IsSorted(counts[:]) {
		t.Errorf("not cumulative: %v", counts)
	}
	// Every bound is a float Prometheus parses and in increasing order.
	prev := 0.0
	for _, b := range promBounds {
		f, err := strconv.ParseFloat(b.le, 64)
		if err != nil || f <= prev || time.Duration(f*float64(time.Second)) != b.d {
			t.Errorf("bound %s: %v", b.le, err)
		}
		prev = f
	}
}

func TestMetricsOverHTTP(t *testing.T) {
	r := New(nil)
	defer r.Close()
	srv := httptest.NewServer(r.MetricsHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "# TYPE shipgate_router_requests_total counter") {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
}

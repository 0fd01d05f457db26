package analysis

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil/promtest"
)

func promProvider(t *testing.T, m shipgate.PrometheusMetric) Provider {
	t.Helper()
	p, err := NewProvider(shipgate.MetricProvider{Prometheus: &m}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrometheusAnswers checks the answer shapes against a fake API.
func TestPrometheusAnswers(t *testing.T) {
	var mu sync.Mutex
	var lastQuery url.Values
	var lastPath string
	answers := map[string]struct {
		status int
		body   string
	}{
		"scalar": {200, `{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"0.25"]}}`},
		"vector": {200, `{"status":"success","warnings":["w"],"data":{"resultType":"vector","result":[
			{"metric":{"code":"500","job":"web"},"value":[1700000000,"3"]},
			{"metric":{"code":"200","job":"web"},"value":[1700000000,"97"]},
			{"metric":{"code":"404"},"value":[1700000000,"NaN"]}]}}`},
		"matrix": {200, `{"status":"success","data":{"resultType":"matrix","result":[
			{"metric":{"pod":"b"},"values":[[1,"+Inf"],[2,"-Inf"]]},
			{"metric":{"pod":"a"},"values":[[1,"1"],[2,"2"],[3,"3"]]}]}}`},
		"empty":     {200, `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		"string":    {200, `{"status":"success","data":{"resultType":"string","result":[1,"hi"]}}`},
		"histogram": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"2"}]}]}}`},
		"bad_data":  {400, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected <op:+>"}`},
		"exec":      {422, `{"status":"error","errorType":"execution","error":"query processing would load too many samples"}`},
		"error200":  {200, `{"status":"error","errorType":"internal","error":"odd"}`},
		"http500":   {500, `upstream exploded`},
		"malformed": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":`},
		"notjson":   {200, `<html>proxy login</html>`},
		"badvalue":  {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}`},
		"numvalue":  {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,5]}]}}`},
		"badscalar": {200, `{"status":"success","data":{"resultType":"scalar","result":[1]}}`},
		"weird":     {200, `{"status":"success","data":{"resultType":"table","result":[]}}`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastQuery, lastPath = r.URL.Query(), r.URL.Path
		mu.Unlock()
		q := r.URL.Query().Get("query")
		if q == "slow" {
			<-r.Context().Done()
			return
		}
		a, ok := answers[q]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	defer srv.Close()

	tests := []struct {
		query string
		want  []float64
		err   string
	}{
		{"scalar", []float64{0.25}, ""},
		{"vector", []float64{97, math.NaN(), 3}, ""}, // {code="200"…} < {code="404"} < {code="500"…}
		{"matrix", []float64{1, 2, 3, math.Inf(1), math.Inf(-1)}, ""},
		{"empty", []float64{}, ""},
		{"string", nil, "the query returned a string, not numbers"},
		{"histogram", nil, "native histogram"},
		{"bad_data", nil, "refused the query (HTTP 400, bad_data): 1:5: parse error: unexpected <op:+>"},
		{"exec", nil, "(HTTP 422, execution): query processing would load too many samples"},
		{"error200", nil, "(HTTP 200, internal): odd"},
		{"http500", nil, "answered HTTP 500: upstream exploded"},
		{"malformed", nil, "isn't its JSON API"},
		{"notjson", nil, "isn't its JSON API (invalid character '<' looking for beginning of value): <html>proxy login</html>"},
		{"badvalue", nil, `bad sample value "abc"`},
		{"numvalue", nil, "want a string"},
		{"badscalar", nil, "want [time, value]"},
		{"weird", nil, `unknown result type "table"`},
		{"missing", nil, "answered HTTP 404: 404 page not found"},
		{"slow", nil, "did not answer within 50ms"},
	}
	for _, tt := range tests {
		timeout := 10 * time.Second // only "slow" is about the timeout
		if tt.query == "slow" {
			timeout = 50 * time.Millisecond
		}
		p := promProvider(t, shipgate.PrometheusMetric{Address: srv.URL + "/", Query: tt.query, Timeout: shipgate.Duration(timeout)})
		got, err := p.Measure(context.Background())
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: %v, %v; want error containing %q", tt.query, got, err, tt.err)
			}
			continue
		}
		if err != nil || got == nil || !slices.EqualFunc(got, tt.want, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
			t.Errorf("%s: %v, %v; want %v", tt.query, got, err, tt.want)
		}
	}

	// The request: an instant query at now, or a range query over the
	// last Range at Step.
	before := float64(time.Now().Unix())
	promProvider(t, shipgate.PrometheusMetric{Address: srv.URL, Query: "scalar"}).Measure(context.Background())
	mu.Lock()
	if lastPath != "/api/v1/query" || lastQuery["time"] == nil || lastQuery.Get("query") != "scalar" {
		t.Errorf("instant query: %s %v", lastPath, lastQuery)
	}
	var at float64
	fmt.Sscan(lastQuery.Get("time"), &at)
	if at < before || at > before+5 {
		t.Errorf("time=%s, want about %v", lastQuery.Get("time"), before)
	}
	mu.Unlock()
	promProvider(t, shipgate.PrometheusMetric{Address: srv.URL, Query: "matrix", Range: shipgate.Duration(5 * time.Minute)}).Measure(context.Background())
	mu.Lock()
	var start, end float64
	fmt.Sscan(lastQuery.Get("start"), &start)
	fmt.Sscan(lastQuery.Get("end"), &end)
	if lastPath != "/api/v1/query_range" || lastQuery.Get("step") != "5" || end-start != 300 {
		t.Errorf("range query: %s %v", lastPath, lastQuery)
	}
	mu.Unlock()
}

// TestPrometheusReal runs the metrics against a real Prometheus scraping a
// gauge the test controls.
func TestPrometheusReal(t *testing.T) {
	began := time.Now()

	// The scraped target: demo_error_ratio, whatever the test sets.
	var ratio atomic.Uint64
	setRatio := func(v float64) { ratio.Store(math.Float64bits(v)) }
	setRatio(0.01)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP demo_error_ratio Share of failed requests.\n# TYPE demo_error_ratio gauge\ndemo_error_ratio %g\n",
			math.Float64frombits(ratio.Load()))
		fmt.Fprint(w, "# TYPE demo_requests counter\ndemo_requests{code=\"500\"} 3\ndemo_requests{code=\"200\"} 97\n")
	}))
	t.Cleanup(target.Close)

	address := "http://" + promtest.Start(t, []string{strings.TrimPrefix(target.URL, "http://")})

	// poll measures until the values satisfy ok, or fails the test.
	poll := func(what string, p Provider, ok func([]float64) bool) []float64 {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var last []float64
		var err error
		for time.Now().Before(deadline) {
			if last, err = p.Measure(context.Background()); err == nil && ok(last) {
				return last
			}
			<-tick.C
		}
		t.Fatalf("%s: not within 30s: last %v, %v", what, last, err)
		return nil
	}
	gauge := promProvider(t, shipgate.PrometheusMetric{Address: address, Query: "demo_error_ratio"})
	poll("the first scrape", gauge, func(v []float64) bool { return len(v) == 1 })
	t.Logf("prometheus scraped the gauge %v after starting", time.Since(began).Round(time.Millisecond))

	metric := shipgate.AnalysisMetric{
		Name:             "error-rate",
		Provider:         shipgate.MetricProvider{Prometheus: &shipgate.PrometheusMetric{Address: address, Query: "demo_error_ratio"}},
		SuccessCondition: "result[0] < 0.05",
	}
	run := func(m shipgate.AnalysisMetric) (shipgate.AnalysisDecision, []Measurement) {
		t.Helper()
		p, err := NewMetricProvider(m, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var seen []Measurement
		d := RunMetric(context.Background(), m, p, 0, func(ms Measurement) { seen = append(seen, ms) })
		return d, seen
	}

	t.Run("passes at 0.01", func(t *testing.T) {
		d, seen := run(metric)
		if d.Phase != ok || len(seen) != 1 || seen[0].Values[0] != 0.01 {
			t.Fatalf("%s %q %v", d.Phase, d.Summary, seen)
		}
	})
	t.Run("vector order follows labels", func(t *testing.T) {
		p := promProvider(t, shipgate.PrometheusMetric{Address: address, Query: "demo_requests"})
		if v := poll("demo_requests", p, func(v []float64) bool { return len(v) == 2 }); v[0] != 97 || v[1] != 3 {
			t.Fatalf("values %v, want [97 3] (code 200 first)", v)
		}
	})
	t.Run("fails at 0.2", func(t *testing.T) {
		setRatio(0.2)
		poll("the new value", gauge, func(v []float64) bool { return len(v) == 1 && v[0] == 0.2 })
		d, _ := run(metric)
		if d.Phase != fail || !strings.Contains(d.Summary, `missed the success condition "result[0] < 0.05" (failure limit 0); last value 0.2`) {
			t.Fatalf("%s %q", d.Phase, d.Summary)
		}
	})
	t.Run("range query", func(t *testing.T) {
		p := promProvider(t, shipgate.PrometheusMetric{Address: address, Query: "demo_error_ratio",
			Range: shipgate.Duration(30 * time.Second), Step: shipgate.Duration(time.Second)})
		v := poll("a range with both values", p, func(v []float64) bool { return slices.Contains(v, 0.01) && slices.Contains(v, 0.2) })
		if i, j := slices.Index(v, 0.01), slices.Index(v, 0.2); i > j {
			t.Errorf("range %v is not oldest first", v)
		}
		// Once the series is older than the range, a 3s range at 1s steps
		// has 4 points.
		m := metric
		m.Provider.Prometheus = &shipgate.PrometheusMetric{Address: address, Query: "max_over_time(demo_error_ratio[30s])",
			Range: shipgate.Duration(3 * time.Second), Step: shipgate.Duration(time.Second)}
		poll("a full range", promProvider(t, *m.Provider.Prometheus), func(v []float64) bool { return len(v) == 4 })
		m.SuccessCondition = "len(result) == 4 && result[3] >= 0.2"
		if d, _ := run(m); d.Phase != ok {
			t.Errorf("range metric: %s %q", d.Phase, d.Summary)
		}
	})
	t.Run("missing series is an error", func(t *testing.T) {
		m := metric
		m.Provider.Prometheus = &shipgate.PrometheusMetric{Address: address, Query: `demo_error_ratio{job="nope"}`}
		m.Interval, m.Count, m.ConsecutiveErrorLimit = shipgate.Duration(10*time.Millisecond), 3, intp(2)
		d, seen := run(m)
		if d.Phase != errd || len(seen) != 3 || !strings.Contains(d.Summary, "result[0] is out of range: the query returned no values") {
			t.Fatalf("%s %q after %d", d.Phase, d.Summary, len(seen))
		}
		for _, ms := range seen {
			if ms.Phase != errd {
				t.Errorf("measurement %+v is not an error", ms)
			}
		}
	})
	t.Run("bad query is an error", func(t *testing.T) {
		p := promProvider(t, shipgate.PrometheusMetric{Address: address, Query: "sum(("})
		if _, err := p.Measure(context.Background()); err == nil || !strings.Contains(err.Error(), "(HTTP 400, bad_data)") {
			t.Fatalf("bad query: %v", err)
		}
	})
	t.Run("unreachable is an error, never a success", func(t *testing.T) {
		m := metric
		m.Provider.Prometheus = &shipgate.PrometheusMetric{Address: "http://" + closedAddr(t), Query: "demo_error_ratio"}
		m.Interval, m.Count = shipgate.Duration(10*time.Millisecond), 0
		m.FailureCondition = "result[0] > 0.5" // even with both conditions
		d, seen := run(m)
		if d.Phase != errd || len(seen) != shipgate.DefaultConsecutiveErrorLimit+1 || !strings.Contains(d.Summary, "is unreachable") {
			t.Fatalf("%s %q after %d measurements", d.Phase, d.Summary, len(seen))
		}
		for _, ms := range seen {
			if ms.Phase != errd {
				t.Errorf("measurement %+v is not an error", ms)
			}
		}
	})
	t.Logf("real Prometheus test took %v", time.Since(began).Round(time.Millisecond))
}

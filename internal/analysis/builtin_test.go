package analysis

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// fakeTraffic is a router's counters: stats per version, and the windows
// asked for.
type fakeTraffic struct {
	stats map[string]TrafficStats
	asked []string
}

func (f *fakeTraffic) Traffic(version string, window time.Duration) TrafficStats {
	f.asked = append(f.asked, version+" "+window.String())
	return f.stats[version]
}

func TestBuiltin(t *testing.T) {
	src := &fakeTraffic{stats: map[string]TrafficStats{
		"canary": {Requests: 200, Errors: 5, Window: 20 * time.Second, Mean: 12 * time.Millisecond,
			P50: 10 * time.Millisecond, P90: 25500 * time.Microsecond, P99: 80 * time.Millisecond},
		"stable": {Requests: 0, Window: 0},
	}}
	tests := []struct {
		metric, version string
		window          time.Duration
		want            float64
		err             string
		asked           string
	}{
		{metric: "error_rate", want: 0.025, asked: "canary 1m0s"},
		{metric: "requests", want: 200},
		{metric: "requests_per_second", want: 10}, // over the 20s the counts really cover
		{metric: "latency_mean_ms", want: 12},
		{metric: "latency_p50_ms", want: 10},
		{metric: "latency_p90_ms", want: 25.5},
		{metric: "latency_p99_ms", want: 80},
		{metric: "error_rate", version: "stable", window: 30 * time.Second, err: "error_rate of the stable: no requests in the last 30s", asked: "stable 30s"},
		{metric: "error_rate", version: "stable", err: "no requests in the last 1m0s"},
		{metric: "latency_p99_ms", version: "stable", err: "no requests"},
		{metric: "requests", version: "stable", want: 0},
		{metric: "requests_per_second", version: "stable", window: 10 * time.Second, want: 0},
	}
	for _, tt := range tests {
		p, err := NewProvider(shipgate.MetricProvider{Builtin: &shipgate.BuiltinMetric{
			Metric: tt.metric, Version: tt.version, Window: shipgate.Duration(tt.window)}}, src, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.metric, err)
		}
		src.asked = nil
		got, err := p.Measure(context.Background())
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %s: %v, %v; want error %q", tt.metric, tt.version, got, err, tt.err)
			}
		} else if err != nil || len(got) != 1 || math.Abs(got[0]-tt.want) > 1e-9 {
			t.Errorf("%s %s: %v, %v; want %v", tt.metric, tt.version, got, err, tt.want)
		}
		if tt.asked != "" && (len(src.asked) != 1 || src.asked[0] != tt.asked) {
			t.Errorf("%s: asked %v, want %q", tt.metric, src.asked, tt.asked)
		}
	}
}

func TestBuiltinErrors(t *testing.T) {
	src := &fakeTraffic{}
	for _, tt := range []struct {
		b    shipgate.BuiltinMetric
		src  TrafficSource
		want string
	}{
		{shipgate.BuiltinMetric{Metric: "error_ratio"}, src, `builtin metric "error_ratio" is unknown; want one of error_rate, requests`},
		{shipgate.BuiltinMetric{Metric: "error_rate", Version: "baseline"}, src, `version "baseline" must be canary or stable`},
		{shipgate.BuiltinMetric{Metric: "error_rate", Window: -1}, src, "negative"},
		{shipgate.BuiltinMetric{Metric: "error_rate"}, nil, "needs the traffic router's counters"},
	} {
		_, err := NewProvider(shipgate.MetricProvider{Builtin: &tt.b}, tt.src, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.b, err, tt.want)
		}
	}
}

// A builtin error is an Error measurement, and an idle canary ends in
// error, never in success.
func TestBuiltinIdleCanaryErrors(t *testing.T) {
	src := &fakeTraffic{stats: map[string]TrafficStats{}}
	m := shipgate.AnalysisMetric{
		Name: "errors", Interval: shipgate.Duration(time.Millisecond), Count: 3,
		Provider:         shipgate.MetricProvider{Builtin: &shipgate.BuiltinMetric{Metric: "error_rate"}},
		SuccessCondition: "result < 0.01",
	}
	p, err := NewMetricProvider(m, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := RunMetric(context.Background(), m, p, 0, nil)
	if d.Phase != errd || d.Evidence["errors"] != 5 || !strings.Contains(d.Summary, "no requests in the last 1ms") {
		t.Fatalf("%s %q %v", d.Phase, d.Summary, d.Evidence)
	}
	if src.asked[0] != "canary 1ms" {
		t.Errorf("window %q: NewMetricProvider should default it to the interval", src.asked[0])
	}
}

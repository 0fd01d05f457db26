package analysis

import (
	"net"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

func TestNewProviderChecks(t *testing.T) {
	tests := []struct {
		p    shipgate.MetricProvider
		want string
	}{
		{shipgate.MetricProvider{}, "exactly one of builtin, prometheus and http (0 given)"},
		{shipgate.MetricProvider{Builtin: &shipgate.BuiltinMetric{Metric: "requests"}, HTTP: &shipgate.HTTPMetric{}}, "(2 given)"},
		{shipgate.MetricProvider{Prometheus: &shipgate.PrometheusMetric{Address: "prometheus:9090", Query: "up"}}, "must be an http:// or https:// URL"},
		{shipgate.MetricProvider{Prometheus: &shipgate.PrometheusMetric{Address: "http://127.0.0.1:9090", Query: " "}}, "needs a query"},
		{shipgate.MetricProvider{Prometheus: &shipgate.PrometheusMetric{Address: "http://127.0.0.1:9090", Query: "up", Step: 1e9}}, "needs a range"},
		{shipgate.MetricProvider{Prometheus: &shipgate.PrometheusMetric{Address: "http://127.0.0.1:9090", Query: "up", Range: 1e9 * 3600 * 24, Step: 1e9}}, "11,000 points"},
		{shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{URL: "ftp://x/y", JSONPath: "a"}}, "must be an http:// or https:// URL"},
		{shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{URL: "http://x/y", JSONPath: ""}}, "json_path is empty"},
		{shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{URL: "http://x/y", JSONPath: "a[x]"}}, "bad index"},
		{shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{URL: "http://x/y", JSONPath: "a", Headers: map[string]string{"Bad Name": "v"}}}, "header name"},
	}
	for _, tt := range tests {
		_, err := NewProvider(tt.p, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewProvider(%+v) = %v, want error containing %q", tt.p, err, tt.want)
		}
	}
	_, err := NewMetricProvider(shipgate.AnalysisMetric{Name: "m"}, nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), `metric "m": `) {
		t.Errorf("NewMetricProvider error %v doesn't name the metric", err)
	}
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

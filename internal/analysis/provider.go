package analysis

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/shipgate/shipgate"
)

// Provider takes one measurement of a metric: the values a condition sees
// as result[0], result[1], …. An error (the source unreachable, an answer
// that isn't a number) makes the measurement an Error, never a success.
type Provider interface {
	Measure(ctx context.Context) ([]float64, error)
}

// DefaultProviderTimeout bounds one request to Prometheus or an HTTP
// metric when the metric sets no Timeout.
const DefaultProviderTimeout = 10 * time.Second

// NewProvider makes the provider p describes, checking its settings. src
// serves builtin metrics (nil if the caller has no router: builtin metrics
// are then refused); client makes Prometheus and HTTP requests (nil means
// http.DefaultClient; each request is bounded by the metric's Timeout).
// A builtin metric's Window 0 means 60s here; NewMetricProvider applies the
// metric's Interval as the default instead.
func NewProvider(p shipgate.MetricProvider, src TrafficSource, client *http.Client) (Provider, error) {
	if client == nil {
		client = http.DefaultClient
	}
	n := 0
	for _, set := range []bool{p.Builtin != nil, p.Prometheus != nil, p.HTTP != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("a metric provider needs exactly one of builtin, prometheus and http (%d given)", n)
	}
	switch {
	case p.Builtin != nil:
		return newBuiltin(*p.Builtin, src)
	case p.Prometheus != nil:
		return newPrometheus(*p.Prometheus, client)
	}
	return newHTTPMetric(*p.HTTP, client)
}

// NewMetricProvider is NewProvider for a whole metric: a builtin metric
// without a Window reads the counters of the last Interval (60s without
// one), as shipgate.BuiltinMetric documents.
func NewMetricProvider(m shipgate.AnalysisMetric, src TrafficSource, client *http.Client) (Provider, error) {
	p := m.Provider
	if b := p.Builtin; b != nil && b.Window == 0 && m.Interval > 0 {
		c := *b
		c.Window = m.Interval
		p.Builtin = &c
	}
	prov, err := NewProvider(p, src, client)
	if err != nil {
		return nil, fmt.Errorf("metric %q: %w", m.Name, err)
	}
	return prov, nil
}

// timeoutOr returns d, or the default when d is not positive.
func timeoutOr(d shipgate.Duration) time.Duration {
	if d <= 0 {
		return DefaultProviderTimeout
	}
	return d.Std()
}

// snippet returns the start of an error body for a message.
func snippet(b []byte) string {
	const n = 200
	s := string(b)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

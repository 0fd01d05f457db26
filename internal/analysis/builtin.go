package analysis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// TrafficSource is what builtin metrics read: the traffic router's own
// counters of one version ("canary" or "stable") over the last window. The
// runner implements it from its router.
type TrafficSource interface {
	Traffic(version string, window time.Duration) TrafficStats
}

// TrafficStats is what a router counted for one version over a window.
type TrafficStats struct {
	Requests, Errors int64
	// Window is the span the counts really cover: shorter than asked for
	// when the version has not been running that long. Zero means the
	// window asked for.
	Window              time.Duration
	Mean, P50, P90, P99 time.Duration
}

// DefaultBuiltinWindow is how far back a builtin metric reads without a
// window (or interval).
const DefaultBuiltinWindow = 60 * time.Second

type builtin struct {
	metric, version string
	window          time.Duration
	src             TrafficSource
}

func newBuiltin(b shipgate.BuiltinMetric, src TrafficSource) (*builtin, error) {
	if !slices.Contains(shipgate.BuiltinMetrics, b.Metric) {
		return nil, fmt.Errorf("builtin metric %q is unknown; want one of %s", b.Metric, strings.Join(shipgate.BuiltinMetrics, ", "))
	}
	p := &builtin{metric: b.Metric, version: b.Version, window: b.Window.Std(), src: src}
	switch p.version {
	case "":
		p.version = "canary"
	case "canary", "stable":
	default:
		return nil, fmt.Errorf("builtin metric %q: version %q must be canary or stable", b.Metric, b.Version)
	}
	if p.window < 0 {
		return nil, fmt.Errorf("builtin metric %q: window %s is negative", b.Metric, p.window)
	}
	if p.window == 0 {
		p.window = DefaultBuiltinWindow
	}
	if src == nil {
		return nil, fmt.Errorf("builtin metric %q needs the traffic router's counters, and this runner has none", b.Metric)
	}
	return p, nil
}

// Measure reads the router's counters. A rate or latency of no requests is
// an error rather than 0, so an idle canary never passes for a healthy one.
func (b *builtin) Measure(ctx context.Context) ([]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := b.src.Traffic(b.version, b.window)
	if b.metric == "requests" {
		return []float64{float64(s.Requests)}, nil
	}
	if b.metric == "requests_per_second" {
		w := s.Window
		if w <= 0 {
			w = b.window
		}
		return []float64{float64(s.Requests) / w.Seconds()}, nil
	}
	if s.Requests <= 0 {
		return nil, fmt.Errorf("%s of the %s: no requests in the last %s", b.metric, b.version, b.window)
	}
	ms := func(d time.Duration) []float64 { return []float64{float64(d) / float64(time.Millisecond)} }
	switch b.metric {
	case "error_rate":
		return []float64{float64(s.Errors) / float64(s.Requests)}, nil
	case "latency_mean_ms":
		return ms(s.Mean), nil
	case "latency_p50_ms":
		return ms(s.P50), nil
	case "latency_p90_ms":
		return ms(s.P90), nil
	case "latency_p99_ms":
		return ms(s.P99), nil
	}
	return nil, fmt.Errorf("builtin metric %q is unknown", b.metric)
}

package httpapi

import (
	"context"
	"runtime"
)

// metricsSlots bounds how many metrics reports (GET /api/v1/metrics/dora
// and /metrics/gates) the server computes at once. Each reads and folds
// every record of its window — about a second of CPU for 100,000
// releases; the cache (metrics_cache.go) spares repeats, not different
// windows — so without a bound anyone who may read could keep every core
// busy with a few parallel requests. The rest wait their
// turn (until their request ends) instead of competing for the CPU.
var metricsSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// acquireMetrics waits for a slot to compute a metrics report; release
// frees it. It fails with ctx's error when the request ends first.
func acquireMetrics(ctx context.Context) (release func(), err error) {
	select {
	case metricsSlots <- struct{}{}:
		return func() { <-metricsSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

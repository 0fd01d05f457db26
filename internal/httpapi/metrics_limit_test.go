package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMetricsReportsAreBounded: a metrics report costs up to a second of
// CPU, so the server computes at most cap(metricsSlots) at once (the
// fixture test TestMetricReportsWaitForASlot shows a request waiting).
func TestMetricsReportsAreBounded(t *testing.T) {
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := acquireMetrics(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			running.Add(-1)
			rel()
		}()
	}
	wg.Wait()
	if int(most.Load()) > cap(metricsSlots) {
		t.Fatalf("%d reports at once, more than %d", most.Load(), cap(metricsSlots))
	}
}

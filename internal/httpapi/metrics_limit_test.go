package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// TestMetricsReportsAreBounded: a metrics report costs up to a second of
// CPU, so the server computes at most cap(metricsSlots) at once (the
// fixture test TestMetricReportsWaitForASlot shows a request waiting).
// Twenty reports ask at once and hold their slot until the test lets them
// go: once every slot is taken, the others wait, and no more than
// cap(metricsSlots) ever run together.
func TestMetricsReportsAreBounded(t *testing.T) {
	var running, most, done atomic.Int32
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			rel, err := acquireMetrics(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-gate
			running.Add(-1)
			rel()
		}()
	}
	testutil.WaitFor(t, "every slot to be taken", func() bool { return int(running.Load()) == cap(metricsSlots) })
	if d := done.Load(); d != 0 {
		t.Fatalf("%d reports finished while every slot was held", d)
	}
	close(gate)
	wg.Wait()
	if int(most.Load()) > cap(metricsSlots) {
		t.Fatalf("%d reports at once, more than %d", most.Load(), cap(metricsSlots))
	}
}

package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMetricsReportsAreBounded: a metrics report costs up to a second of
// CPU and nothing caches it, so the server computes at most cap(metricsSlots)
// at once; a request that arrives while all are busy waits and, when it
// ends first, computes nothing (the nil DB would panic if it read).
func TestMetricsReportsAreBounded(t *testing.T) {
	var held []func()
	for range cap(metricsSlots) {
		rel, err := acquireMetrics(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, rel)
	}
	h := &Handler{}
	for _, call := range []func(r *httptestRequest) error{
		func(r *httptestRequest) error { return h.doraMetrics(r.w, r.r, nil) },
		func(r *httptestRequest) error { return h.gateKPIs(r.w, r.r, nil) },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		req := &httptestRequest{w: httptest.NewRecorder(), r: httptest.NewRequestWithContext(ctx, "GET", "/api/v1/metrics/dora", nil)}
		if err := call(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("with every slot busy: %v, want the request's deadline", err)
		}
		cancel()
	}
	for _, rel := range held {
		rel()
	}

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

type httptestRequest struct {
	w *httptest.ResponseRecorder
	r *http.Request
}

package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Metric reports (DORA, gate KPIs) read a window of history and take up to
// a second over 100,000 releases. Readers ask the same questions again —
// the Metrics page, a dashboard refreshing, a script polling — and nothing
// changes between two asks unless something was audited: every fact the
// reports read is an audit event or written with one. So a report is kept,
// keyed by its request and the audit chain's head, for at most
// metricsCacheAge (a window that ends "now" slides), and concurrent asks of
// one report compute it once. At most metricsCompute reports are computed
// at once, so a reader asking many different windows queues behind itself
// instead of taking every core (metricsSlots, metrics_limit.go).
const (
	metricsCacheAge     = time.Minute
	metricsCacheEntries = 64
)

type metricsCache struct {
	once    sync.Once
	mu      sync.Mutex
	entries map[string]*metricsEntry
}

type metricsEntry struct {
	seq  int64
	at   time.Time
	done chan struct{}
	val  any
	err  error
}

func (c *metricsCache) init() {
	c.once.Do(func() {
		c.entries = map[string]*metricsEntry{}
	})
}

// report answers the request with its cached report if the audit chain has
// not moved since it was computed (and it is fresh), else computes it with
// compute. The header Shipgate-Report says which: "cached" or "computed".
func (h *Handler) report(w http.ResponseWriter, r *http.Request, compute func(ctx context.Context) (any, error)) (any, error) {
	c := &h.metrics
	c.init()
	var seq int64
	if err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		seq, _, err = tx.AuditHead(r.Context())
		return err
	}); err != nil {
		return nil, err
	}
	key := r.URL.Path + "?" + r.URL.Query().Encode()
	now := time.Now()
	c.mu.Lock()
	e := c.entries[key]
	if e != nil && e.seq == seq && now.Sub(e.at) < metricsCacheAge {
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		if e.err == nil {
			w.Header().Set("Shipgate-Report", "cached")
			return e.val, nil
		}
		// A failed computation is not kept: compute again below.
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		e = nil
	}
	e = &metricsEntry{seq: seq, at: now, done: make(chan struct{})}
	c.entries[key] = e
	if len(c.entries) > metricsCacheEntries {
		var oldest string
		for k, x := range c.entries {
			if k != key && (oldest == "" || x.at.Before(c.entries[oldest].at)) {
				oldest = k
			}
		}
		delete(c.entries, oldest)
	}
	c.mu.Unlock()

	defer close(e.done)
	release, err := acquireMetrics(r.Context())
	if err != nil {
		e.err = err
		return nil, err
	}
	defer release()
	e.val, e.err = compute(r.Context())
	if e.err == nil {
		w.Header().Set("Shipgate-Report", "computed")
	}
	return e.val, e.err
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/tracing"
	"go.opentelemetry.io/otel/trace"
)

// serverTracing is the server's tracing: all zero when OTEL_* leave it
// off (no exporter, no goroutine, no traceparent in assignments).
type serverTracing struct {
	provider *tracing.Provider
	emitter  *tracing.Emitter
}

// startTracing wires traces when p, set up from the OTEL_* variables
// (tracing.Setup; docs/metrics.md "Traces"), is not nil: job assignments
// carry their span's traceparent, and the leader emits release spans from
// the audit chain. The caller shuts p down.
func startTracing(ctx context.Context, p *tracing.Provider, db *sqlstore.DB, disp *reconcile.Dispatcher, logger *slog.Logger) (*serverTracing, error) {
	if p == nil {
		return &serverTracing{}, nil
	}
	var secret []byte
	if err := db.Update(ctx, func(tx *sqlstore.Tx) (err error) {
		secret, _, err = tx.TraceState(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("trace state: %w", err)
	}
	ids := tracing.NewIDs(secret)
	disp.TraceParent = func(k shipgate.AttemptKey) string { return ids.TraceParent(k) }
	logger.Info("exporting release traces over OTLP (OTEL_* variables)")
	return &serverTracing{provider: p, emitter: &tracing.Emitter{DB: db, Tracer: p.Tracer(), IDs: ids, Logger: logger}}, nil
}

// run emits release spans while this server leads.
func (t *serverTracing) run(ctx context.Context) {
	if t.emitter != nil {
		t.emitter.Run(ctx)
	}
}

// tracer is what the built-in runner makes step spans with; nil when off.
func (t *serverTracing) tracer() trace.Tracer { return t.provider.Tracer() }

// shutdown exports the spans still batched (after the leader's last
// emitter pass: serve waits for its background work first).
func (t *serverTracing) shutdown(logger *slog.Logger) {
	if t.provider == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.provider.Shutdown(ctx); err != nil {
		logger.Warn("export the last spans", "err", err)
	}
}

package tracing

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkEmit measures the emitter's span rate with tracing on: one
// derived-id span with a remote parent and attributes per op, through the
// SDK's batcher into an exporter that drops them (the network is not
// measured).
func BenchmarkEmit(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithIDGenerator(idGenerator{}))
	defer tp.Shutdown(b.Context())
	ids := NewIDs([]byte("0123456789abcdef0123456789abcdef"))
	e := &Emitter{Tracer: tp.Tracer("b"), IDs: ids}
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		i++
		k := shipgate.AttemptKey{ReleaseID: i, Run: 1, Job: "deploy", Attempt: 1}
		e.emit(span{name: "job deploy", trace: ids.Trace(i), id: ids.Job(k), parent: ids.Root(i), start: start, end: start.Add(time.Minute),
			attrs: []attribute.KeyValue{attribute.Int64("shipgate.release.id", i), attribute.String("shipgate.job", "deploy")}})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkTraceParent is what tracing adds to each claim when on.
func BenchmarkTraceParent(b *testing.B) {
	ids := NewIDs([]byte("0123456789abcdef0123456789abcdef"))
	k := shipgate.AttemptKey{ReleaseID: 42, Run: 1, Job: "deploy", Attempt: 1}
	b.ReportAllocs()
	for b.Loop() {
		_ = ids.TraceParent(k)
	}
}

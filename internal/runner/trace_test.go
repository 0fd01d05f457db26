package runner

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const jobTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func tpOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "TRACEPARENT="); ok {
			return v
		}
	}
	return ""
}

// TestStepTraceParent: a step's TRACEPARENT is absent when the server sent
// none, the job's span when the runner does not trace, and the step's own
// span (in the job's trace, child of the job's span) when it does. A
// check's command gets the job's; a service process none.
func TestStepTraceParent(t *testing.T) {
	a := &shipgate.Assignment{Key: shipgate.AttemptKey{ReleaseID: 1, Run: 1, Job: "deploy", Attempt: 1}}
	r := &Runner{}
	if env, _ := r.stepSpan(a, 0, shipgate.Step{Run: "true"}); len(env) != 0 {
		t.Fatalf("no trace from the server, yet the step gets %v", env)
	}
	a.TraceParent = jobTP
	if env, _ := r.stepSpan(a, 0, shipgate.Step{Run: "true"}); tpOf(env) != jobTP {
		t.Fatalf("without a tracer the step's TRACEPARENT is %q, want the job's %q", tpOf(env), jobTP)
	}
	if tp := tpOf(r.environment(a, "/a", "/w")); tp != "" {
		t.Fatalf("the job's base environment (a service process's too) carries TRACEPARENT %q", tp)
	}
	if tp := tpOf(jobTraceEnv(a)); tp != jobTP {
		t.Fatalf("a check's command gets TRACEPARENT %q, want the job's %q", tp, jobTP)
	}
	rec := tracetest.NewSpanRecorder()
	r.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("t")
	env, end := r.stepSpan(a, 1, shipgate.Step{Name: "migrate", Run: "true"})
	end(3, nil)
	tp := tpOf(env)
	if !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || tp == jobTP {
		t.Fatalf("with a tracer the step's TRACEPARENT is %q: want the job's trace and the step's own span", tp)
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "step migrate" || spans[0].Parent().SpanID().String() != "00f067aa0ba902b7" ||
		!strings.Contains(tp, spans[0].SpanContext().SpanID().String()) || spans[0].Status().Code != 1 {
		t.Fatalf("step span: %+v", spans)
	}
}

// BenchmarkStepSpan measures what tracing adds to each step: off (the
// server sent no traceparent, no tracer), propagate only (no tracer), and
// on (a span per step, recorded in memory).
func BenchmarkStepSpan(b *testing.B) {
	step := shipgate.Step{Run: "true"}
	for _, c := range []struct {
		name string
		tp   string
		r    *Runner
	}{
		{"off", "", &Runner{}},
		{"propagate", jobTP, &Runner{}},
		{"on", jobTP, &Runner{Tracer: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter()))).Tracer("b")}},
	} {
		a := &shipgate.Assignment{TraceParent: c.tp}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, end := c.r.stepSpan(a, 0, step)
				end(0, nil)
			}
		})
	}
}

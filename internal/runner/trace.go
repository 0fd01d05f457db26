package runner

import (
	"context"
	"strconv"

	"github.com/shipgate/shipgate"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceEnv is what a step's environment says of its trace: the W3C
// traceparent (and tracestate) a deploy script's own spans take as their
// parent. Empty when the server does not export traces.
func traceEnv(ctx context.Context) []string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	var env []string
	if tp := c.Get("traceparent"); tp != "" {
		env = append(env, "TRACEPARENT="+tp)
	}
	if ts := c.Get("tracestate"); ts != "" {
		env = append(env, "TRACESTATE="+ts)
	}
	return env
}

// jobTraceEnv is TRACEPARENT (and TRACESTATE) naming the attempt's span;
// nothing when the server does not trace.
func jobTraceEnv(a *shipgate.Assignment) []string {
	if a.TraceParent == "" {
		return nil
	}
	return traceEnv(jobTraceContext(a))
}

// jobTraceContext is the context of the attempt's span, named by the
// traceparent the server sent with the assignment.
func jobTraceContext(a *shipgate.Assignment) context.Context {
	if a.TraceParent == "" {
		return context.Background()
	}
	return propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": a.TraceParent})
}

// stepSpan starts the span of one step when the runner has a tracer and
// the job has a trace; end records the step's exit code. Without a
// tracer, the step's TRACEPARENT is the job's span.
// The span is named for the step's name, or its number: a step's command
// is an attribute, never a span name (names stay few, for grouping).
func (r *Runner) stepSpan(a *shipgate.Assignment, i int, step shipgate.Step) (env []string, end func(code int, err error)) {
	if a.TraceParent == "" {
		return nil, noEnd // the server does not trace: nothing to do
	}
	parent := jobTraceContext(a)
	if r.Tracer == nil || !trace.SpanContextFromContext(parent).IsValid() {
		return traceEnv(parent), noEnd
	}
	name := step.Name
	if name == "" {
		name = strconv.Itoa(i + 1)
	}
	ctx, sp := r.Tracer.Start(parent, "step "+name, trace.WithAttributes(
		attribute.String("shipgate.job", a.Key.Job), attribute.Int("shipgate.attempt", a.Key.Attempt),
		attribute.String("shipgate.step", step.Label(i)), attribute.Int("shipgate.step.index", i+1), attribute.String("shipgate.runner", r.Info.Name)))
	return traceEnv(ctx), func(code int, err error) {
		sp.SetAttributes(attribute.Int("process.exit.code", code))
		if err != nil {
			sp.SetStatus(codes.Error, err.Error())
		} else if code != 0 {
			sp.SetStatus(codes.Error, "exited with a non-zero status")
		}
		sp.End()
	}
}

func noEnd(int, error) {}

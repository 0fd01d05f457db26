package tracing

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

func serviceName(name string) attribute.KeyValue { return semconv.ServiceName(name) }

// IDs derives the trace and span ids of releases from a secret, so that
// any server, at any time, names the same spans the same way.
type IDs struct{ secret []byte }

// NewIDs returns the ids of a database with trace secret secret.
func NewIDs(secret []byte) IDs { return IDs{secret: secret} }

func (ids IDs) sum(parts ...any) []byte {
	m := hmac.New(sha256.New, ids.secret)
	var b strings.Builder
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b.WriteString(strconv.Quote(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case int:
			b.WriteString(strconv.Itoa(v))
		}
		b.WriteByte('/')
	}
	m.Write([]byte(b.String()))
	return m.Sum(nil)
}

// Trace is the trace id of release id.
func (ids IDs) Trace(release int64) trace.TraceID {
	var t trace.TraceID
	copy(t[:], ids.sum("trace", release))
	return t
}

func (ids IDs) span(parts ...any) trace.SpanID {
	var s trace.SpanID
	copy(s[:], ids.sum(append([]any{"span"}, parts...)...))
	return s
}

// Root is the span id of release id's root span.
func (ids IDs) Root(release int64) trace.SpanID { return ids.span("release", release) }

// Job is the span id of one attempt of a job.
func (ids IDs) Job(k shipgate.AttemptKey) trace.SpanID {
	return ids.span("job", k.ReleaseID, k.Run, k.Job, k.Attempt)
}

// TraceParent is the W3C traceparent of a job attempt's span: what the
// runner passes to the attempt's steps as TRACEPARENT.
func (ids IDs) TraceParent(k shipgate.AttemptKey) string {
	return "00-" + ids.Trace(k.ReleaseID).String() + "-" + ids.Job(k).String() + "-01"
}

// wantIDs, in a context, are the ids the next span started with it gets.
type wantIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

type idKey struct{}

// idGenerator gives a span the ids put in its context (derived ones);
// spans without, such as a runner's step spans, get random ids.
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if w, ok := ctx.Value(idKey{}).(wantIDs); ok {
		return w.trace, w.span
	}
	var t trace.TraceID
	rand.Read(t[:])
	return t, randomSpan()
}

func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if w, ok := ctx.Value(idKey{}).(wantIDs); ok {
		return w.span
	}
	return randomSpan()
}

func randomSpan() trace.SpanID {
	var s trace.SpanID
	rand.Read(s[:])
	return s
}

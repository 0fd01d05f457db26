package tracing

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// TestSetupOffStartsNothing: without an endpoint, or when turned off, there
// is no provider, no exporter and no goroutine, and the nil provider is
// safe to use.
func TestSetupOffStartsNothing(t *testing.T) {
	for _, env := range [][]string{
		nil,
		{"OTEL_SERVICE_NAME=web", "OTEL_EXPORTER_OTLP_HEADERS=a=b"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_SDK_DISABLED=true"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces", "OTEL_TRACES_EXPORTER=none"},
	} {
		before := runtime.NumGoroutine()
		p, err := Setup(context.Background(), envOf(env...), "shipgate")
		if err != nil || p != nil {
			t.Fatalf("%v: provider %v, err %v; want tracing off", env, p, err)
		}
		if after := runtime.NumGoroutine(); after > before {
			t.Fatalf("%v: %d goroutines started with tracing off", env, after-before)
		}
		if p.Tracer() != nil || p.Shutdown(context.Background()) != nil {
			t.Fatal("a nil provider is not a no-op")
		}
	}
}

func TestSetupRefusesWhatItCannotHonour(t *testing.T) {
	for env, want := range map[string]string{
		"OTEL_TRACES_EXPORTER=jaeger":           `OTEL_TRACES_EXPORTER="jaeger"`,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc":      `OTEL_EXPORTER_OTLP_PROTOCOL="grpc"`,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/json": `"http/json"`,
		// Endpoints are named, never shown: they may hold credentials.
		"OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:4318":                  `OTEL_EXPORTER_OTLP_ENDPOINT is not an http:// or https:// URL`,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector:4318/v1/traces": `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not an http:// or https:// URL`,
	} {
		_, err := Setup(context.Background(), envOf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", env), "shipgate")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want one naming %s", env, err, want)
		}
	}
}

// TestIDsAreDerived: the same secret names the same trace and spans on any
// server at any time; another database's secret names others; the
// traceparent is valid W3C.
func TestIDsAreDerived(t *testing.T) {
	a, b := NewIDs([]byte("0123456789abcdef0123456789abcdef")), NewIDs([]byte("another secret of thirty-two b.."))
	k := shipgate.AttemptKey{ReleaseID: 7, Run: 1, Job: "deploy", Attempt: 2}
	if a.Trace(7) != NewIDs([]byte("0123456789abcdef0123456789abcdef")).Trace(7) || a.Job(k) != a.Job(k) {
		t.Fatal("ids are not deterministic")
	}
	if a.Trace(7) == b.Trace(7) || a.Trace(7) == a.Trace(8) || a.Root(7) == a.Job(k) {
		t.Fatal("ids collide")
	}
	k2 := k
	k2.Attempt = 3
	if a.Job(k) == a.Job(k2) {
		t.Fatal("two attempts share a span id")
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": a.TraceParent(k)})
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || sc.TraceID() != a.Trace(7) || sc.SpanID() != a.Job(k) || !sc.IsSampled() {
		t.Fatalf("traceparent %q does not parse to the job's span: %+v", a.TraceParent(k), sc)
	}
}

// TestSetupRefusesBadEndpointsAndHeadersWithoutShowingThem: a malformed
// endpoint or header list was handed to the exporter, which logged the
// whole value (credentials in the URL, an "Authorization: Bearer …"
// written with a colon) and went on exporting to its default address.
// Setup now refuses them, naming the variable and never its value.
func TestSetupRefusesBadEndpointsAndHeadersWithoutShowingThem(t *testing.T) {
	const secret = "pa55w0rd-s3cret"
	for _, env := range [][]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://user:" + secret + "@127.0.0.1:notaport"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.internal/" + secret},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=ftp://" + secret + "@collector:4318"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_HEADERS=Authorization: Bearer " + secret},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_TRACES_HEADERS=x-ok=1,Authorization=Bearer%zz" + secret},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_HEADERS==" + secret},
	} {
		p, err := Setup(context.Background(), envOf(env...), "shipgate")
		if err == nil {
			p.Shutdown(context.Background())
			t.Errorf("%v: accepted", env)
			continue
		}
		if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_") {
			t.Errorf("%v: %v", env, err)
		}
	}
	p, err := Setup(context.Background(), envOf("OTEL_EXPORTER_OTLP_ENDPOINT=https://u:p@collector:4318", "OTEL_EXPORTER_OTLP_HEADERS=a=b, Authorization=Bearer%20x ,"), "shipgate")
	if err != nil || p == nil {
		t.Fatalf("a good endpoint and headers: %v", err)
	}
	p.Shutdown(context.Background())
}

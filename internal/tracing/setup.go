package tracing

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Provider is a configured tracer provider. A nil *Provider is tracing
// turned off: every method is a no-op and nothing was started.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// Setup reads the standard OpenTelemetry variables through getenv and
// returns nil (tracing off: no exporter, no goroutine) unless an OTLP
// endpoint is set in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT. OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off as well. The exporter speaks
// OTLP/HTTP with protobuf; it reads the other OTEL_EXPORTER_OTLP_*
// variables (headers, timeout, certificates) itself, and OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES name the resource (service.name defaults
// to fallbackName). OTEL_BSP_* tune the batching.
func Setup(ctx context.Context, getenv func(string) string, fallbackName string) (*Provider, error) {
	if on, _ := strconv.ParseBool(strings.TrimSpace(getenv("OTEL_SDK_DISABLED"))); on {
		return nil, nil
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return nil, nil
	case "", "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: shipgate exports traces only over OTLP (otlp) or not at all (none)", exp)
	}
	if getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return nil, nil // off by default
	}
	// The exporter only logs an endpoint it cannot parse (the usual slip is a
	// missing scheme, "127.0.0.1:4318") and then sends to its default,
	// https://localhost:4318: refuse it here instead of tracing into nowhere.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		v := strings.TrimSpace(getenv(k))
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%s is not an http:// or https:// URL (e.g. http://otel-collector:4318); its value is not shown, it may hold credentials", k)
		}
	}
	proto := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if proto == "" {
		proto = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	if proto != "" && proto != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: shipgate exports traces over http/protobuf only (collectors accept it on port 4318)", proto)
	}
	if err := checkOTLPEnv(getenv); err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	if getenv("OTEL_SERVICE_NAME") == "" && !strings.Contains(getenv("OTEL_RESOURCE_ATTRIBUTES"), "service.name=") {
		res, _ = resource.Merge(res, resource.NewSchemaless(serviceName(fallbackName)))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithIDGenerator(idGenerator{}))
	return &Provider{tp: tp}, nil
}

// Tracer returns the tracer spans are made with, or nil when off.
func (p *Provider) Tracer() trace.Tracer {
	if p == nil {
		return nil
	}
	return p.tp.Tracer("github.com/shipgate/shipgate")
}

// Shutdown exports what is still batched and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.Shutdown(ctx)
}

// checkOTLPEnv refuses a malformed endpoint or header list before the
// exporter sees it: the exporter would log the whole value (a URL's
// credentials, an "Authorization: Bearer …" written with a colon) and
// export to its default address instead. The errors name the variable,
// never its value.
func checkOTLPEnv(getenv func(string) string) error {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s is not an http(s) URL such as http://collector:4318 (its value is not shown: it may hold credentials)", name)
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"} {
		for i, entry := range strings.Split(getenv(name), ",") {
			if strings.TrimSpace(entry) == "" {
				continue
			}
			k, v, ok := strings.Cut(entry, "=")
			_, kerr := url.PathUnescape(strings.TrimSpace(k))
			_, verr := url.PathUnescape(strings.TrimSpace(v))
			if !ok || strings.TrimSpace(k) == "" || kerr != nil || verr != nil {
				return fmt.Errorf("%s: entry %d is not key=value (percent-encoded, entries separated by commas, e.g. Authorization=Bearer%%20TOKEN); its value is not shown", name, i+1)
			}
		}
	}
	return nil
}

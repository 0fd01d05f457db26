// Package tracing exports OpenTelemetry traces of releases over OTLP.
//
// It is off unless the standard OTEL_* variables name an OTLP endpoint
// (see Setup). A release's trace spans minutes to hours, several processes
// and restarts, so no span is ever held open: every trace id and span id of
// a release is derived from a random per-database secret (sqlstore
// TraceState) and the release's identifiers, and the Emitter, which reads
// the audit chain on the leader, emits each span when its phase has ended,
// with the real start and end times taken from the store. A job's span id
// is known before the job runs, so its W3C traceparent goes to the runner
// with the assignment and into every step's environment as TRACEPARENT.
package tracing

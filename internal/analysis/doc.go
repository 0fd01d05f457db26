// Package analysis judges canaries.
//
// A Judge sees one tick (one second) of counters at a time — requests,
// errors and slow requests per arm (stable, baseline, canary), as a traffic
// router counts them — and may decide to roll back. Sequential is shipgate's
// judge: an anytime-valid betting e-process on which arm each second's bad
// events land in, so its false-rollback probability stays below alpha
// however long and however often it looks. Argo and Kayenta re-implement the
// reference judges exactly as the judge benchmark specifies, to compare
// against.
//
// Threshold metrics (MetricRun, RunMetric) follow Argo Rollouts' analysis
// semantics: each measurement from a Provider (the router's own counters
// through a TrafficSource, a Prometheus query, or a JSON endpoint) is
// assessed against success and failure Conditions, and the metric fails,
// errors or is inconclusive when its limits are exceeded. An agent runs
// both kinds of judge next to its router during a rollout.
//
// The judge benchmark, which replays synthetic canaries through these
// judges, lives in internal/judgesim: it imports this package, never the
// other way round, and a test here keeps simulation code out.
package analysis

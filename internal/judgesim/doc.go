// Package judgesim is the judge benchmark: it replays synthetic canaries
// through the canary judges of package analysis and measures how they do.
//
// A Scenario (scenario.go, parsed from YAML by internal/config) describes
// one canary: traffic, how each arm's error rate and latency move over time
// (Curve, curve.go) and the ground truth, promote or rollback. Simulate
// (simulate.go) draws one run second by second — Poisson arrivals split by
// outcome, log-normal latencies, correlated error bursts (draw.go) — and
// feeds the same ticks to a fresh judge of every JudgeFactory (judges.go),
// so all judges see the same random traffic (common random numbers). A run
// depends only on the seed, the run number and the scenario's name.
//
// Bench (bench.go) runs every scenario many times in parallel and reports,
// per judge and scenario, the rollback rate, time to rollback and blast
// radius (Result); the results do not depend on the number of workers.
// `shipgate bench judges` is its command; docs/judge-benchmark.md is the
// specification and docs/benchmarks.md the recorded numbers.
//
// The judges themselves are production code and stay in package analysis;
// this package imports it, never the other way round.
package judgesim

// Package kpi computes the gate and rollout KPIs (shipgate.GateKPIs) from
// a History of what the store recorded: gate outcomes, queue waits,
// rollouts and analysis decisions. It is pure: the loader in
// internal/sqlstore (kpi.go) reads the history, Compute does the rest, so
// the rules are tested on synthetic histories and benchmarked without a
// database. docs/metrics.md "Gate and rollout KPIs" defines every figure.
package kpi

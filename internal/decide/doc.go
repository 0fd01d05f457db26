// Package decide is shipgate's one decider: every state transition of
// releases, their rollbacks and their jobs (and the promotion of a
// rollout, the part of a rollout the server owns) is computed here, by
// Decide(observed, command, now) → Plan, and nowhere else.
//
// Decide is pure: it reads nothing but its arguments, does no I/O, and
// this package imports only the root package and the standard library
// (TestImportsOnlyRootAndStdlib fails otherwise). The callers around it —
// the reconcile loop, the dispatcher that hands jobs to runners, the HTTP
// handlers — observe what the decision needs inside a transaction, ask
// Decide, and apply the Plan it returns with the plan's audit events in
// the same transaction (internal/reconcile).
//
// Every state change a plan makes is a Step that must be listed in
// Transitions, the transition table, with exactly the audit actions it
// records; a step the table does not list makes Decide fail rather than
// apply it. docs/architecture.md shows the state diagrams generated from
// the table (TestArchitectureDocMatchesTable).
package decide

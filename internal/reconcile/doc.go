// Package reconcile moves releases through their lifecycle.
//
// The planner (Plan) is a pure function of a release, its approvals, the
// jobs of its current run and the time: it returns the changes to make, the
// audit events that record them, and when to look again. The loop
// (Reconciler) loads each active release, plans, and applies the plan in one
// transaction with its events. The Dispatcher is the server side of the job
// hand-off: runners claim queued jobs under a lease, heartbeat, ship logs
// and report outcomes through it, in-process for the built-in runner and
// over HTTP for remote agents.
package reconcile

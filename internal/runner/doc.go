// Package runner executes jobs. A Runner claims jobs from a Coordinator,
// holds each under a lease it extends with heartbeats, runs the job's steps
// (or probes its health check) as child processes in their own process
// group, ships their output as numbered log chunks, and reports the outcome.
//
// The runner never touches the database. The built-in local runner of
// `shipgate serve` uses the server's Dispatcher directly; a remote agent
// uses the same interface over HTTP.
package runner

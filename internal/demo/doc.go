// Package demo is what `shipgate demo` and `shipgate demo-app` run: the
// demo's two acts (a bad release rolled back by policy, a bad canary
// aborted by its judge), the small HTTP service they deploy, the service
// files that deploy it, and a client load that sees traffic the way
// clients do. cmd/shipgate parses the flags and calls it; the canary
// end-to-end tests use its service files and load too.
package demo

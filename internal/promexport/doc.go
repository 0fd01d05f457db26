// Package promexport serves the control plane's own metrics in the
// Prometheus exposition format, on its own registry (never the global
// default).
//
// Three sources feed it. Counters and histograms are fed from the audit
// events of committed transactions (sqlstore.DB.Committed): every state
// change is an audit event written in the same transaction, so a rolled
// back change is never counted. Gauges of the current state (releases by
// state, queue depth, agents online, outbox depth, audit chain length and
// checkpoint age) are read from the store at each scrape with a few cheap
// aggregate queries. The DORA figures per service and environment are
// computed in the background at most once a minute and kept, so a scrape
// never walks the release history.
//
// Counters start at zero with each server process, as is usual for
// Prometheus; use rate() or increase() over them.
package promexport

package promexport

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Metrics is the control plane's registry and the counters, histograms
// and gauges on it. Make one with New, feed it with Observe (wired to
// sqlstore.DB.Committed) and Delivery, and run it with Run.
type Metrics struct {
	db        *sqlstore.DB
	lostAfter time.Duration
	logger    *slog.Logger
	reg       *prometheus.Registry
	events    chan []shipgate.AuditEvent

	auditEvents   *prometheus.CounterVec
	transitions   *prometheus.CounterVec
	jobOutcomes   *prometheus.CounterVec
	leaseExpiries prometheus.Counter
	rollbacks     *prometheus.CounterVec
	canaryAborts  *prometheus.CounterVec
	policy        *prometheus.CounterVec
	flagKills     *prometheus.CounterVec
	delivered     *prometheus.CounterVec
	deliveryFails *prometheus.CounterVec
	dropped       prometheus.Counter
	approvalWait  prometheus.Histogram
	queueTime     prometheus.Histogram
	dispatch      prometheus.Histogram

	dora *doraGauges
}

// Options configure New.
type Options struct {
	// LostAfter is how long an agent may be silent and still count as
	// online (the server's --agent-lost-after).
	LostAfter time.Duration
	// DORA, if set, computes the DORA figures the gauges report; Run
	// calls it at most every DORAInterval.
	DORA DORASource
	// DORAInterval is how often the DORA gauges are recomputed in the
	// background (default a minute); a scrape never computes them.
	DORAInterval time.Duration
	// Sinks name the notification sinks, whose counters start at zero.
	Sinks  []string
	Logger *slog.Logger
}

// eventBuffer bounds the committed batches waiting for Run: a burst never
// blocks a writer; past it, batches are dropped and counted.
const eventBuffer = 4096

// New builds the registry for db: the Go runtime and process collectors,
// the store's gauges, and the counters fed by Observe.
func New(db *sqlstore.DB, o Options) *Metrics {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DORAInterval <= 0 {
		o.DORAInterval = time.Minute
	}
	m := &Metrics{db: db, lostAfter: o.LostAfter, logger: o.Logger, reg: prometheus.NewRegistry(),
		events: make(chan []shipgate.AuditEvent, eventBuffer)}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "shipgate", Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "shipgate", Name: name, Help: help, Buckets: buckets})
	}
	m.auditEvents = counter("audit_events_total", "Audit events committed, by action.", "action")
	m.transitions = counter("release_transitions_total", "Release lifecycle events committed (created, approved, queued, started, succeeded, failed, ...), by action.", "action")
	m.jobOutcomes = counter("job_outcomes_total", "Job attempts ended, by result: succeeded, failed, cancelled, retried.", "result")
	m.leaseExpiries = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shipgate", Name: "job_lease_expiries_total",
		Help: "Job attempts whose runner's lease ran out before it reported."})
	m.rollbacks = counter("rollbacks_total", "Rollbacks fired, by trigger (what started them).", "trigger")
	m.canaryAborts = counter("canary_aborts_total", "Progressive rollouts aborted, by reason: analysis, timeout, cancelled, other.", "reason")
	m.policy = counter("policy_decisions_total", "Policy decisions recorded, by policy point and result.", "point", "result")
	m.flagKills = counter("flag_kills_total", "Feature flags switched off by a kill switch (killed) or by a release's mitigation (mitigated).", "kind")
	m.delivered = counter("notifications_delivered_total", "Notifications delivered, by sink.", "sink")
	m.deliveryFails = counter("notification_failures_total", "Notification delivery attempts that failed, by sink; final=\"true\" when the notification was given up.", "sink", "final")
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shipgate", Name: "metrics_events_dropped_total",
		Help: "Committed audit events not counted because the metrics buffer was full."})
	m.approvalWait = histogram("approval_wait_seconds", "Time from a release's creation to each approval it was given.",
		[]float64{60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600})
	m.queueTime = histogram("release_queue_seconds", "Time a release waited queued (for a release ahead of it or a deploy window) before it started.",
		[]float64{0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600})
	m.dispatch = histogram("job_dispatch_seconds", "Dispatch latency: time from a job being queued to a runner claiming it.",
		[]float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900})
	// The known label values start at zero, so a dashboard's series exist
	// before the first event of their kind (an absent series is no 0).
	for _, r := range []string{string(shipgate.JobSucceeded), string(shipgate.JobFailed), string(shipgate.JobCancelled), "retried"} {
		m.jobOutcomes.WithLabelValues(r)
	}
	for _, t := range []string{shipgate.TriggeredByPolicy, shipgate.TriggeredByUser} {
		m.rollbacks.WithLabelValues(t)
	}
	for _, r := range []string{"analysis", "timeout", "cancelled", "other"} {
		m.canaryAborts.WithLabelValues(r)
	}
	for _, k := range []string{"killed", "mitigated"} {
		m.flagKills.WithLabelValues(k)
	}
	for _, a := range []string{shipgate.ActionReleaseCreated, shipgate.ActionReleaseApproved, shipgate.ActionReleaseStarted,
		shipgate.ActionReleaseSucceeded, shipgate.ActionReleaseFailed, shipgate.ActionReleaseCancelled} {
		m.transitions.WithLabelValues(a)
	}
	for _, sink := range o.Sinks {
		m.delivered.WithLabelValues(sink)
		m.deliveryFails.WithLabelValues(sink, "false")
		m.deliveryFails.WithLabelValues(sink, "true")
	}
	m.dora = newDORAGauges(o.DORA, o.DORAInterval)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.auditEvents, m.transitions, m.jobOutcomes, m.leaseExpiries, m.rollbacks, m.canaryAborts,
		m.policy, m.flagKills, m.delivered, m.deliveryFails, m.dropped,
		m.approvalWait, m.queueTime, m.dispatch,
		m.dora,
	)
	if db != nil { // nil: counters only, for tests of the counting
		m.reg.MustRegister(&storeCollector{m: m})
	}
	return m
}

// Registry is the registry the handler serves, for tests and for
// registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the exposition. A gauge the store could not answer is
// left out and the error logged; the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: slogPrinter{m.logger}})
}

// Observe takes the audit events of one committed transaction (set it as
// sqlstore.DB.Committed). It never blocks: Run counts them.
func (m *Metrics) Observe(events []shipgate.AuditEvent) {
	select {
	case m.events <- events:
	default:
		m.dropped.Add(float64(len(events)))
	}
}

// Delivery records one delivery attempt to sink: delivered, or failed
// (final when the notification was given up). Set it as the notify
// worker's Delivered hook.
func (m *Metrics) Delivery(sink string, delivered, final bool) {
	if delivered {
		m.delivered.WithLabelValues(sink).Inc()
		return
	}
	f := "false"
	if final {
		f = "true"
	}
	m.deliveryFails.WithLabelValues(sink, f).Inc()
}

// Run counts observed events and keeps the DORA gauges fresh until ctx
// ends.
func (m *Metrics) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.dora.run(ctx, m.logger)
	}()
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-m.events:
			m.Count(ctx, batch)
		}
	}
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("metrics", "err", v) }

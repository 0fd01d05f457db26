package promexport

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DORAFigure is one service and environment's DORA numbers over a window
// (docs/metrics.md defines each).
type DORAFigure struct {
	Service, Environment string
	// Deployments counts the deployments in the window; PerDay is their
	// rate per day.
	Deployments int
	PerDay      float64
	// LeadTime holds the change lead time's p50 and p90, when any
	// deployment had a known commit time.
	LeadTime *Percentiles
	// ChangeFailureRate is failed deployments over deployments; Failures
	// counts the failed ones.
	ChangeFailureRate float64
	Failures          int
	// Recovery holds the failed deployment recovery time's p50 and p90,
	// when any failure was recovered from.
	Recovery *Percentiles
}

// Percentiles are a duration's 50th and 90th percentiles.
type Percentiles struct{ P50, P90 time.Duration }

// DORASource computes the DORA figures of every service and environment
// over the trailing window it returns.
type DORASource func(ctx context.Context) (figures []DORAFigure, window time.Duration, err error)

var (
	doraDeploymentsDesc = desc("dora_deployments", "Deployments (releases that succeeded) in the DORA window.", "service", "environment")
	doraFrequencyDesc   = desc("dora_deployment_frequency_per_day", "Deployment frequency: deployments per day over the DORA window.", "service", "environment")
	doraLeadTimeDesc    = desc("dora_lead_time_seconds", "Change lead time (commit to succeeded in the environment) over the DORA window, by percentile (50, 90).", "service", "environment", "percentile")
	doraCFRDesc         = desc("dora_change_failure_ratio", "Change failure rate: failed deployments over deployments in the DORA window (0 to 1).", "service", "environment")
	doraFailuresDesc    = desc("dora_failed_deployments", "Failed deployments in the DORA window.", "service", "environment")
	doraRecoveryDesc    = desc("dora_recovery_time_seconds", "Failed deployment recovery time over the DORA window, by percentile (50, 90).", "service", "environment", "percentile")
	doraWindowDesc      = desc("dora_window_seconds", "The trailing window the DORA gauges cover.")
	doraComputedDesc    = desc("dora_computed_timestamp_seconds", "When the DORA gauges were last computed (Unix time).")
)

// doraGauges keeps the last computed DORA figures; a scrape reports them
// and never computes.
type doraGauges struct {
	source   DORASource
	interval time.Duration

	mu       sync.Mutex
	figures  []DORAFigure
	window   time.Duration
	computed time.Time
	// refreshed is closed and replaced after each computation, for tests.
	refreshed chan struct{}
}

func newDORAGauges(source DORASource, interval time.Duration) *doraGauges {
	return &doraGauges{source: source, interval: interval, refreshed: make(chan struct{})}
}

// run computes the figures at once, then every interval, until ctx ends.
func (g *doraGauges) run(ctx context.Context, logger *slog.Logger) {
	if g.source == nil {
		return
	}
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		if err := g.refresh(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("metrics: compute the DORA gauges", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *doraGauges) refresh(ctx context.Context) error {
	figures, window, err := g.source(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.figures, g.window, g.computed = figures, window, time.Now()
	close(g.refreshed)
	g.refreshed = make(chan struct{})
	return nil
}

// RefreshDORA computes the DORA gauges now, for tests and for a server
// that wants them before the first interval.
func (m *Metrics) RefreshDORA(ctx context.Context) error {
	if m.dora.source == nil {
		return nil
	}
	return m.dora.refresh(ctx)
}

func (g *doraGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{doraDeploymentsDesc, doraFrequencyDesc, doraLeadTimeDesc, doraCFRDesc, doraFailuresDesc, doraRecoveryDesc, doraWindowDesc, doraComputedDesc} {
		ch <- d
	}
}

func (g *doraGauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.computed.IsZero() {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(doraWindowDesc, g.window.Seconds())
	gauge(doraComputedDesc, float64(g.computed.UnixMilli())/1000)
	for _, f := range g.figures {
		gauge(doraDeploymentsDesc, float64(f.Deployments), f.Service, f.Environment)
		gauge(doraFrequencyDesc, f.PerDay, f.Service, f.Environment)
		gauge(doraFailuresDesc, float64(f.Failures), f.Service, f.Environment)
		if f.Deployments > 0 {
			gauge(doraCFRDesc, f.ChangeFailureRate, f.Service, f.Environment)
		}
		if p := f.LeadTime; p != nil {
			gauge(doraLeadTimeDesc, p.P50.Seconds(), f.Service, f.Environment, "50")
			gauge(doraLeadTimeDesc, p.P90.Seconds(), f.Service, f.Environment, "90")
		}
		if p := f.Recovery; p != nil {
			gauge(doraRecoveryDesc, p.P50.Seconds(), f.Service, f.Environment, "50")
			gauge(doraRecoveryDesc, p.P90.Seconds(), f.Service, f.Environment, "90")
		}
	}
}

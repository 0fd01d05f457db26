package promexport

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shipgate/shipgate/internal/dora"
)

// DORASource computes the DORA report over the trailing window the
// gauges cover; the gauges report its breakdown per service and
// environment.
type DORASource func(ctx context.Context) (dora.Report, error)

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
	report   dora.Report
	computed time.Time
}

func newDORAGauges(source DORASource, interval time.Duration) *doraGauges {
	return &doraGauges{source: source, interval: interval}
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
	report, err := g.source(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.report, g.computed = report, time.Now()
	return nil
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
	gauge(doraWindowDesc, g.report.Until.Sub(g.report.Since).Seconds())
	gauge(doraComputedDesc, float64(g.computed.UnixMilli())/1000)
	percentiles := func(d *prometheus.Desc, dist dora.Duration, service, env string) {
		if dist.P50 != nil {
			gauge(d, *dist.P50, service, env, "50")
		}
		if dist.P90 != nil {
			gauge(d, *dist.P90, service, env, "90")
		}
	}
	for _, b := range g.report.Breakdown {
		m := b.Metrics
		gauge(doraDeploymentsDesc, float64(m.Deployments), b.Service, b.Environment)
		gauge(doraFrequencyDesc, m.DeploymentsPerDay, b.Service, b.Environment)
		gauge(doraFailuresDesc, float64(m.FailedDeployments), b.Service, b.Environment)
		if m.ChangeFailRate != nil {
			gauge(doraCFRDesc, *m.ChangeFailRate, b.Service, b.Environment)
		}
		percentiles(doraLeadTimeDesc, m.LeadTime.CommitToSucceeded, b.Service, b.Environment)
		percentiles(doraRecoveryDesc, m.RecoveryTime, b.Service, b.Environment)
	}
}

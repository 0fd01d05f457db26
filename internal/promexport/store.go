package promexport

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// scrapeTimeout bounds the store's answer to one scrape.
const scrapeTimeout = 5 * time.Second

// releaseStates are reported even at zero, so a dashboard's series exist
// from the first scrape.
var releaseStates = []shipgate.ReleaseState{
	shipgate.StatePendingApproval, shipgate.StateQueued, shipgate.StateRunning,
	shipgate.StateSucceeded, shipgate.StateFailed, shipgate.StateRejected, shipgate.StateCancelled,
	shipgate.StateRolledBack,
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("shipgate_"+name, help, labels, nil)
}

var (
	releasesDesc       = desc("releases", "Releases in each state, from the store.", "state")
	jobsQueuedDesc     = desc("jobs_queued", "Jobs ready and waiting for a runner to claim them (the dispatch queue's depth).")
	agentsDesc         = desc("agents", "Agents in touch within the lost-after time, by state: online or draining.", "state")
	outboxDesc         = desc("notification_outbox", "Notifications in the outbox: pending (not delivered yet) or failed (given up).", "state")
	auditLengthDesc    = desc("audit_chain_length", "Events in the audit chain (the sequence number of its head).")
	checkpointAgeDesc  = desc("audit_checkpoint_age_seconds", "Seconds since the newest signed audit checkpoint; absent before the first.")
	storeUpDesc        = desc("store_up", "1 when the store answered this scrape's queries, 0 when it did not.")
	scrapeDurationDesc = desc("store_scrape_duration_seconds", "Time the store took to answer this scrape's queries.")
)

// storeCollector reads the gauges from the store at each scrape: a few
// indexed aggregate queries, whatever the number of releases.
type storeCollector struct{ m *Metrics }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{releasesDesc, jobsQueuedDesc, agentsDesc, outboxDesc, auditLengthDesc, checkpointAgeDesc, storeUpDesc, scrapeDurationDesc} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	began := time.Now()
	var g sqlstore.Gauges
	var now time.Time
	err := c.m.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		now = tx.Now()
		g, err = tx.ControlPlaneGauges(ctx, c.m.lostAfter)
		return err
	})
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(scrapeDurationDesc, time.Since(began).Seconds())
	if err != nil {
		c.m.logger.Warn("metrics: read the store's gauges", "err", err)
		gauge(storeUpDesc, 0)
		return
	}
	gauge(storeUpDesc, 1)
	seen := map[string]bool{}
	for _, s := range releaseStates {
		gauge(releasesDesc, float64(g.ReleasesByState[string(s)]), string(s))
		seen[string(s)] = true
	}
	for s, n := range g.ReleasesByState {
		if !seen[s] { // a state added later still shows
			gauge(releasesDesc, float64(n), s)
		}
	}
	gauge(jobsQueuedDesc, float64(g.JobsQueued))
	gauge(agentsDesc, float64(g.AgentsOnline), "online")
	gauge(agentsDesc, float64(g.AgentsDraining), "draining")
	gauge(outboxDesc, float64(g.OutboxPending), "pending")
	gauge(outboxDesc, float64(g.OutboxFailed), "failed")
	gauge(auditLengthDesc, float64(g.AuditLength))
	if !g.LastCheckpoint.IsZero() {
		gauge(checkpointAgeDesc, max(now.Sub(g.LastCheckpoint), 0).Seconds())
	}
}

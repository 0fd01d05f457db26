package promexport

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// releaseActions are the release lifecycle events counted as transitions.
var releaseActions = map[string]bool{
	shipgate.ActionReleaseCreated: true, shipgate.ActionReleaseApproved: true, shipgate.ActionReleaseRejected: true,
	shipgate.ActionReleaseQueued: true, shipgate.ActionReleaseStarted: true, shipgate.ActionReleaseSucceeded: true,
	shipgate.ActionReleaseFailed: true, shipgate.ActionReleaseCancelled: true, shipgate.ActionReleaseRerun: true,
	shipgate.ActionReleaseRolledBack: true, shipgate.ActionApprovalsLapsed: true,
}

// details are the fields of an event's details the counters read.
type details struct {
	State       string          `json:"state"`
	Cause       string          `json:"cause"`
	TriggeredBy string          `json:"triggered_by"`
	Reason      string          `json:"reason"`
	Evidence    json.RawMessage `json:"evidence"`
	Point       string          `json:"point"`
	Result      string          `json:"result"`
	Job         string          `json:"job"`
	Run         int             `json:"run"`
}

// Count counts one committed transaction's events. Run calls it for each
// observed batch; tests call it directly. The durations (approval wait,
// queue time, dispatch latency) read the times they start from in the
// store; an event whose start cannot be read is counted but not timed.
func (m *Metrics) Count(ctx context.Context, events []shipgate.AuditEvent) {
	for _, e := range events {
		m.auditEvents.WithLabelValues(e.Action).Inc()
		if releaseActions[e.Action] {
			m.transitions.WithLabelValues(e.Action).Inc()
		}
		var d details
		json.Unmarshal(e.Details, &d) // a field that is not there stays empty
		switch e.Action {
		case shipgate.ActionJobFinished:
			m.jobOutcomes.WithLabelValues(orUnknown(d.State)).Inc()
		case shipgate.ActionJobRetry:
			m.jobOutcomes.WithLabelValues("retried").Inc()
		case shipgate.ActionRollbackFired:
			m.rollbacks.WithLabelValues(orUnknown(d.TriggeredBy)).Inc()
		case shipgate.ActionRolloutAborted:
			m.canaryAborts.WithLabelValues(abortReason(d)).Inc()
		case shipgate.ActionPolicyDecided:
			m.policy.WithLabelValues(orUnknown(d.Point), orUnknown(d.Result)).Inc()
		case shipgate.ActionFlagKilled:
			m.flagKills.WithLabelValues("killed").Inc()
		case shipgate.ActionFlagMitigated:
			m.flagKills.WithLabelValues("mitigated").Inc()
		}
		if d.Cause == string(shipgate.JobCauseLost) && (e.Action == shipgate.ActionJobRetry || e.Action == shipgate.ActionJobFinished) {
			m.leaseExpiries.Inc()
		}
		m.time(ctx, e, d)
	}
}

// time observes the durations that end with e.
func (m *Metrics) time(ctx context.Context, e shipgate.AuditEvent, d details) {
	id, ok := shipgate.ReleaseIDOf(e.Subject)
	if !ok || m.db == nil {
		return
	}
	var start time.Time
	var found bool
	err := m.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		switch e.Action {
		case shipgate.ActionReleaseApproved:
			start, err = tx.ReleaseCreatedAt(ctx, id)
			found = err == nil
		case shipgate.ActionReleaseStarted:
			start, found, err = tx.LastEventBefore(ctx, e.Subject, shipgate.ActionReleaseQueued, e.Seq)
		case shipgate.ActionJobStarted:
			start, found, err = tx.JobQueuedAt(ctx, id, d.Run, d.Job)
		}
		return err
	})
	if err != nil {
		m.logger.Warn("metrics: read a duration's start", "action", e.Action, "subject", e.Subject, "err", err)
		return
	}
	if !found {
		return
	}
	wait := max(e.At.Sub(start), 0).Seconds()
	switch e.Action {
	case shipgate.ActionReleaseApproved:
		m.approvalWait.Observe(wait)
	case shipgate.ActionReleaseStarted:
		m.queueTime.Observe(wait)
	case shipgate.ActionJobStarted:
		m.dispatch.Observe(wait)
	}
}

// abortReason sorts an abort into a few kinds: the agent's message is
// free text, unfit for a label.
func abortReason(d details) string {
	msg := strings.ToLower(d.Reason)
	switch {
	case hasEvidence(d.Evidence): // an analysis decision failed
		return "analysis"
	case strings.Contains(msg, "timed out") || strings.Contains(msg, "timeout"):
		return "timeout"
	case strings.Contains(msg, "cancel"):
		return "cancelled"
	}
	return "other"
}

func orUnknown(s string) string {
	if s == "" || len(s) > 64 {
		return "unknown"
	}
	return s
}

func hasEvidence(ev json.RawMessage) bool {
	s := strings.TrimSpace(string(ev))
	return s != "" && s != "{}" && s != "null"
}

package notify

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Enqueuer decides which sinks hear of which audit events.
type Enqueuer struct {
	Sinks []config.Sink
	// Source names this server in CloudEvents.
	Source string
}

// Outbox is the store's hook: the notifications one audit event owes.
func (q *Enqueuer) Outbox(ctx context.Context, tx *sqlstore.Tx, e shipgate.AuditEvent) ([]sqlstore.Notification, error) {
	if len(q.Sinks) == 0 {
		return nil, nil
	}
	id, ok := strings.CutPrefix(e.Subject, "release/")
	if !ok {
		return nil, nil
	}
	rid, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, nil
	}
	r, err := tx.FindRelease(ctx, rid)
	if err != nil {
		return nil, err
	}
	ev, ok := classify(e, r)
	if !ok {
		return nil, nil
	}
	var out []sqlstore.Notification
	for _, s := range q.Sinks {
		if len(s.Events) > 0 && !slices.Contains(s.Events, e.Action) {
			continue
		}
		payload, err := q.render(s, ev)
		if err != nil {
			return nil, err
		}
		if payload == nil {
			continue
		}
		out = append(out, sqlstore.Notification{Sink: s.Name, EventType: ev.Type, Subject: e.Subject, Payload: string(payload)})
	}
	return out, nil
}

// pagerDutyEvent is an Events API v2 event without its routing key, which
// is added at delivery so that the key never sits in the database.
type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key,omitempty"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *pagerDutyPayload `json:"payload,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// render makes a sink's payload, or nil when the sink does not care.
func (q *Enqueuer) render(s config.Sink, ev Event) ([]byte, error) {
	switch s.Type {
	case config.SinkWebhook:
		return ev.CloudEvent(q.Source)
	case config.SinkSlack:
		return json.Marshal(map[string]string{"text": "shipgate: " + ev.Summary})
	case config.SinkPagerDuty:
		if ev.PagerDuty == "" {
			return nil, nil
		}
		pd := pagerDutyEvent{EventAction: ev.PagerDuty, DedupKey: DedupKey(ev.DedupRelease)}
		if ev.PagerDuty == "trigger" {
			pd.Payload = &pagerDutyPayload{
				Summary: ev.Summary, Source: q.Source, Severity: ev.Severity, Timestamp: ev.Audit.At.UTC().Format("2006-01-02T15:04:05.000Z"),
				Component: ev.Release.Service, Group: ev.Release.Environment,
				CustomDetails: map[string]any{"release": ev.Release.ID, "version": ev.Release.Version, "cdevent": ev.Type},
			}
		}
		return json.Marshal(pd)
	}
	return nil, nil
}

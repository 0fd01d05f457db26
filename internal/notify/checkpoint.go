package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// CheckpointEventType is the CloudEvents type of a signed audit
// checkpoint: a custom CDEvent (the checkpoint is about the log, not a
// delivery, so no standard type fits) whose subject content is the
// checkpoint exactly as `shipgate audit verify --checkpoint` reads it.
const CheckpointEventType = "dev.cdeventsx.shipgate-auditcheckpoint.signed.0.1.0"

// CheckpointOutbox is the store's hook for a new audit checkpoint: the
// notifications that publish it. Publishing checkpoints outside the
// database is what makes them worth having, so webhook and Slack sinks get
// them unless their events filter leaves audit.checkpoint out; a PagerDuty
// sink gets them only when its events filter names audit.checkpoint, and
// then as Change Events, which never open an incident.
func (q *Enqueuer) CheckpointOutbox(_ context.Context, cp shipgate.AuditCheckpoint) ([]sqlstore.Notification, error) {
	var out []sqlstore.Notification
	for _, s := range q.Sinks {
		named := slices.Contains(s.Events, shipgate.ActionAuditCheckpoint)
		if len(s.Events) > 0 && !named || s.Type == config.SinkPagerDuty && !named {
			continue
		}
		payload, err := q.renderCheckpoint(s, cp)
		if err != nil {
			return nil, err
		}
		out = append(out, sqlstore.Notification{Sink: s.Name, EventType: CheckpointEventType, Subject: "audit", Payload: string(payload)})
	}
	return out, nil
}

func checkpointSummary(cp shipgate.AuditCheckpoint) string {
	return fmt.Sprintf("audit checkpoint: event seq %d has hash %s (signed %s by key %s)", cp.Seq, cp.Hash, cp.At.UTC().Format("2006-01-02T15:04:05Z"), cp.KeyID)
}

func (q *Enqueuer) renderCheckpoint(s config.Sink, cp shipgate.AuditCheckpoint) ([]byte, error) {
	switch s.Type {
	case config.SinkWebhook:
		// A CDEvent whose subject content is the checkpoint; the whole
		// body is what `shipgate audit verify --checkpoint` accepts.
		id := "shipgate-checkpoint-" + cp.KeyID + "-" + strconv.FormatInt(cp.Seq, 10)
		at := cp.At.UTC().Format("2006-01-02T15:04:05.000000Z")
		subject := "audit/" + strconv.FormatInt(cp.Seq, 10)
		return json.Marshal(map[string]any{
			"specversion": "1.0", "id": id, "source": q.Source, "type": CheckpointEventType, "time": at, "subject": subject,
			"datacontenttype": "application/json",
			"data": map[string]any{
				"context":               map[string]any{"version": cdeventsVersion, "id": id, "source": q.Source, "type": CheckpointEventType, "timestamp": at},
				"subject":               map[string]any{"id": subject, "source": q.Source, "type": "shipgate-auditcheckpoint", "content": cp},
				"customData":            map[string]any{"summary": checkpointSummary(cp), "verify": "shipgate audit verify --checkpoint FILE --public-key KEY"},
				"customDataContentType": "application/json",
			},
		})
	case config.SinkSlack:
		js, err := json.Marshal(cp)
		if err != nil {
			return nil, err
		}
		// Two lines: the sentence, and the checkpoint as one JSON line
		// (escapes in it are JSON escapes of the same characters).
		return json.Marshal(map[string]string{"text": slackText(
			"shipgate: "+checkpointSummary(cp)+". Keep it: `shipgate audit verify --checkpoint` reads this line:",
			"```"+string(js)+"```")})
	case config.SinkPagerDuty:
		return json.Marshal(pagerDutyChange{Payload: pagerDutyChangePayload{
			Summary: pagerDutySummary("shipgate " + checkpointSummary(cp)), Source: q.Source, Timestamp: cp.At.UTC().Format("2006-01-02T15:04:05.000Z"),
			CustomDetails: map[string]any{"checkpoint": cp},
		}})
	}
	return nil, fmt.Errorf("sink %q: unknown type %q", s.Name, s.Type)
}

// pagerDutyChange is a PagerDuty Change Event (Events API v2): recorded on
// the service's timeline, never an incident. The routing key is added at
// delivery, like for alert events.
type pagerDutyChange struct {
	RoutingKey string                 `json:"routing_key,omitempty"`
	Payload    pagerDutyChangePayload `json:"payload"`
}

type pagerDutyChangePayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Timestamp     string         `json:"timestamp"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// pagerDutyChangeURL is where change events go: the sink's events URL with
// /v2/enqueue replaced by /v2/change/enqueue (PagerDuty's layout); any
// other URL is used as it is.
func pagerDutyChangeURL(eventsURL string) string {
	if base, ok := strings.CutSuffix(eventsURL, "/v2/enqueue"); ok {
		return base + "/v2/change/enqueue"
	}
	return eventsURL
}

// pagerDutyChangeBody adds the routing key to a stored change event.
func pagerDutyChangeBody(body []byte, routingKey string) ([]byte, error) {
	var ev pagerDutyChange
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, err
	}
	ev.RoutingKey = routingKey
	return json.Marshal(ev)
}

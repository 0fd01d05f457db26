package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Flag kills notify like a failed release: a kill is an incident-grade
// action people on call must hear of even when nobody released anything.
// CDEvents v0.4.1 has no flag events, so the webhook carries the custom
// type dev.cdeventsx.shipgate-flag.killed.0.1.0 (subject "flag/<service>/
// <environment>/<key>"); Slack gets one line; PagerDuty a trigger (severity
// warning) deduplicated per flag, which enabling the flag again resolves.
// The environment's notify.sinks route them, as they route its releases.

// FlagKilledType is the CloudEvent/CDEvent type of a flag kill.
var FlagKilledType = customType("flag", "killed")

// FlagDedupKey is the PagerDuty dedup key of a flag's kill.
func FlagDedupKey(service, env, key string) string {
	return "shipgate/" + shipgate.FlagSubject(service, env, key)
}

type flagDetails struct {
	Service     string         `json:"service"`
	Environment string         `json:"environment"`
	Key         string         `json:"key"`
	Op          string         `json:"op"`
	Reason      string         `json:"reason"`
	Release     int64          `json:"release"`
	Before      *shipgate.Flag `json:"before"`
	After       *shipgate.Flag `json:"after"`
}

// flagOutbox is Outbox for events whose subject is a flag: flag.killed,
// and flag.changed when it enables a killed flag (the incident's resolve,
// for PagerDuty sinks that were sent the trigger).
func (q *Enqueuer) flagOutbox(ctx context.Context, tx *sqlstore.Tx, e shipgate.AuditEvent) ([]sqlstore.Notification, error) {
	var d flagDetails
	if err := json.Unmarshal(e.Details, &d); err != nil {
		return nil, fmt.Errorf("details of audit event %d: %w", e.Seq, err)
	}
	resolve := e.Action == shipgate.ActionFlagChanged
	if resolve && !(d.Op == string(shipgate.FlagOpEnable) && d.Before != nil && d.Before.Disabled) {
		return nil, nil
	}
	var pol *shipgate.NotifyPolicy
	if svc, err := tx.FindService(ctx, d.Service); err == nil {
		if env, ok := svc.Spec.Environment(d.Environment); ok {
			pol = env.Notify
		}
	}
	served := ""
	if d.After != nil {
		served = d.After.Served()
	}
	summary := fmt.Sprintf("%s killed flag %s of %s in %s: serves %s to everyone", e.Actor, d.Key, d.Service, d.Environment, served)
	if d.Release != 0 {
		summary += fmt.Sprintf(" (flags of release %d)", d.Release)
	}
	summary += " — " + d.Reason
	var out []sqlstore.Notification
	for _, s := range q.Sinks {
		if pol != nil && len(pol.Sinks) > 0 && !slices.Contains(pol.Sinks, s.Name) {
			continue
		}
		if len(s.Events) > 0 && !slices.Contains(s.Events, shipgate.ActionFlagKilled) {
			continue
		}
		if resolve && s.Type != config.SinkPagerDuty {
			continue
		}
		payload, err := q.renderFlag(s, e, d, summary, resolve)
		if err != nil {
			return nil, err
		}
		if s.Type == config.SinkPagerDuty {
			dedup := FlagDedupKey(d.Service, d.Environment, d.Key)
			if resolve {
				open, err := tx.ResolveIncident(ctx, s.Name, dedup)
				if err != nil {
					return nil, err
				}
				if !open {
					continue
				}
			} else if err := tx.OpenIncident(ctx, s.Name, dedup); err != nil {
				return nil, err
			}
		}
		out = append(out, sqlstore.Notification{Sink: s.Name, EventType: FlagKilledType, Subject: e.Subject, Payload: string(payload)})
	}
	return out, nil
}

func (q *Enqueuer) renderFlag(s config.Sink, e shipgate.AuditEvent, d flagDetails, summary string, resolve bool) ([]byte, error) {
	at := e.At.UTC()
	switch s.Type {
	case config.SinkSlack:
		lines := []string{"shipgate: " + summary}
		if d.Release != 0 && q.PublicURL != "" {
			lines = append(lines, ReleasePageURL(q.PublicURL, d.Release))
		}
		return json.Marshal(map[string]string{"text": slackText(lines...)})
	case config.SinkPagerDuty:
		pd := pagerDutyEvent{EventAction: "trigger", DedupKey: FlagDedupKey(d.Service, d.Environment, d.Key)}
		if resolve {
			pd.EventAction = "resolve"
			return json.Marshal(pd)
		}
		pd.Payload = &pagerDutyPayload{Summary: pagerDutySummary(summary), Source: q.Source, Severity: "warning",
			Timestamp: at.Format("2006-01-02T15:04:05.000Z"), Component: d.Service, Group: d.Environment,
			CustomDetails: map[string]any{"flag": d.Key, "reason": d.Reason, "killed_by": e.Actor, "release": d.Release, "cdevent": FlagKilledType}}
		if d.Release != 0 && q.PublicURL != "" {
			pd.Links = []pagerDutyLink{{Href: ReleasePageURL(q.PublicURL, d.Release), Text: fmt.Sprintf("Release %d", d.Release)}}
		}
		return json.Marshal(pd)
	}
	// The webhook: a CloudEvent carrying the custom CDEvent.
	id := fmt.Sprintf("shipgate-%d", e.Seq)
	var details any
	if err := json.Unmarshal(e.Details, &details); err != nil {
		return nil, err
	}
	subject := map[string]any{"id": e.Subject, "source": q.Source, "type": "shipgate-flag",
		"content": map[string]any{"service": d.Service, "environment": d.Environment, "key": d.Key, "serves": d.After.Served(), "reason": d.Reason}}
	custom := map[string]any{"service": d.Service, "environment": d.Environment, "flag": d.Key, "summary": summary,
		"action": e.Action, "actor": e.Actor, "auditSeq": e.Seq, "details": details}
	if d.Release != 0 {
		custom["release"] = d.Release
		custom["page"] = ReleasePageURL(q.PublicURL, d.Release)
	}
	cdevent := map[string]any{
		"context":               map[string]any{"version": cdeventsVersion, "id": id, "source": q.Source, "type": FlagKilledType, "timestamp": at.Format(time.RFC3339Nano)},
		"subject":               subject,
		"customData":            custom,
		"customDataContentType": "application/json",
	}
	return json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": q.Source, "type": FlagKilledType, "time": at.Format(time.RFC3339Nano),
		"subject": e.Subject, "datacontenttype": "application/json", "data": cdevent,
	})
}

// isFlagSubject reports whether an audit subject names a flag.
func isFlagSubject(subject string) bool { return strings.HasPrefix(subject, "flag/") }

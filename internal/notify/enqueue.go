package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Enqueuer decides which sinks hear of which audit events.
type Enqueuer struct {
	Sinks []config.Sink
	// Source names this server in CloudEvents (a URI reference).
	Source string
	// PublicURL is the absolute URL people and tools reach the server at
	// (config public_url); events link to releases under it. Empty, links
	// are paths relative to the server.
	PublicURL string
}

// Outbox is the store's hook: the notifications one audit event owes.
func (q *Enqueuer) Outbox(ctx context.Context, tx *sqlstore.Tx, e shipgate.AuditEvent) ([]sqlstore.Notification, error) {
	if len(q.Sinks) > 0 && isFlagSubject(e.Subject) && (e.Action == shipgate.ActionFlagKilled || e.Action == shipgate.ActionFlagChanged || e.Action == shipgate.ActionFlagChangeRequested) {
		return q.flagOutbox(ctx, tx, e) // see flag.go
	}
	if len(q.Sinks) == 0 || !notifies(e.Action) {
		// Most events notify nobody; they must not cost a read, nor fail
		// on a subject that names no release (a refusal of
		// /releases/424242 is about release/424242).
		return nil, nil
	}
	rid, ok := shipgate.ReleaseIDOf(e.Subject)
	if !ok {
		return nil, nil
	}
	r, err := tx.FindRelease(ctx, rid)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return nil, nil // nothing to tell about a release that does not exist
	} else if err != nil {
		return nil, err
	}
	ev, ok := classify(e, r)
	if !ok {
		return nil, nil
	}
	if slices.Contains(personActions, e.Action) {
		if err := q.describe(ctx, tx, &ev); err != nil {
			return nil, err
		}
	}
	if err := mitigated(ctx, tx, &ev); err != nil {
		return nil, err
	}
	var out []sqlstore.Notification
	for _, s := range q.Sinks {
		if !routes(s, ev) {
			continue
		}
		payload, err := q.render(s, ev)
		if err != nil {
			return nil, err
		}
		if payload == nil {
			continue
		}
		if send, err := incident(ctx, tx, s, ev); err != nil {
			return nil, err
		} else if !send {
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
	// Links are shown on the incident: the release's page.
	Links []pagerDutyLink `json:"links,omitempty"`
}

type pagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
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
		return ev.CloudEvent(q.Source, q.PublicURL)
	case config.SinkSlack:
		lines := []string{"shipgate: " + ev.Summary}
		if link := q.link(ev.Release.ID); link != "" && !strings.Contains(ev.Summary, link) {
			lines = append(lines, link)
		}
		return json.Marshal(map[string]string{"text": slackText(lines...)})
	case config.SinkPagerDuty:
		if ev.PagerDuty == "" {
			return nil, nil
		}
		pd := pagerDutyEvent{EventAction: ev.PagerDuty, DedupKey: ev.dedupKey()}
		if ev.PagerDuty == "trigger" {
			pd.Payload = &pagerDutyPayload{
				Summary: pagerDutySummary(ev.Summary), Source: q.Source, Severity: ev.Severity, Timestamp: ev.Audit.At.UTC().Format("2006-01-02T15:04:05.000Z"),
				Component: ev.Release.Service, Group: ev.Release.Environment,
				CustomDetails: map[string]any{"release": ev.Release.ID, "version": ev.Release.Version, "cdevent": ev.Type},
			}
			if link := q.link(ev.Release.ID); link != "" {
				pd.Links = []pagerDutyLink{{Href: link, Text: fmt.Sprintf("Release %d of %s in %s", ev.Release.ID, ev.Release.Service, ev.Release.Environment)}}
			}
		}
		return json.Marshal(pd)
	}
	return nil, nil
}

// Bounds of what is sent: Slack shows about 4000 characters of a message's
// text; PagerDuty refuses a summary longer than 1024.
const (
	maxSlackText        = 3000
	maxPagerDutySummary = 1024
)

// slackText makes Slack message text of lines, our sentences with
// versions, reasons and names from people and agents in them. Each line is
// one line in Slack: a newline, CR or other control or invisible character
// inside a field is escaped, so what an agent reports cannot start a line
// that reads like a notification of its own; only the newlines that join
// lines are the message's. "<!channel>" or "<@U123>" in a field would ping
// people and "<https://x|y>" would disguise a link, so '&', '<' and '>'
// become the entities Slack asks for. The text is cut to what Slack shows.
func slackText(lines ...string) string {
	esc := make([]string, len(lines))
	for i, l := range lines {
		esc[i] = shipgate.EscapeText(l, "")
	}
	s := clip(strings.Join(esc, "\n"), maxSlackText)
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// pagerDutySummary makes a summary fit PagerDuty's: one line (control
// characters, newlines included, escaped) of at most 1024 characters.
func pagerDutySummary(s string) string {
	return clip(shipgate.EscapeText(s, ""), maxPagerDutySummary)
}

// clip cuts s to at most n characters, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

package notify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// People land on the release's page in the web UI: Slack's text and
// PagerDuty's links carry /releases/<id> under public_url; the webhook's
// CloudEvent keeps the API's URL for programs and adds the page for people.
// Without public_url, Slack and PagerDuty carry no link at all.
func TestNotificationsLinkToTheReleasePage(t *testing.T) {
	for _, tc := range []struct {
		sink      config.Sink
		publicURL string
		want      []string
		not       []string
	}{
		{config.Sink{Name: "team", Type: config.SinkSlack, URL: "https://hooks.slack.example.com/x"}, "https://shipgate.example.com/ops/",
			[]string{`failed: boom\nhttps://shipgate.example.com/ops/releases/1"`}, []string{"/api/v1/"}},
		{config.Sink{Name: "team", Type: config.SinkPagerDuty, URL: "https://events.pagerduty.example.com/v2/enqueue"}, "https://shipgate.example.com/ops",
			[]string{`"links":[{"href":"https://shipgate.example.com/ops/releases/1","text":"Release 1 of web in production"}]`}, []string{"/api/v1/"}},
		{config.Sink{Name: "team", Type: config.SinkWebhook, URL: "https://team.example.com/hook"}, "https://shipgate.example.com",
			[]string{`"url":"https://shipgate.example.com/api/v1/releases/1"`, `"page":"https://shipgate.example.com/releases/1"`}, nil},
		{config.Sink{Name: "team", Type: config.SinkSlack, URL: "https://hooks.slack.example.com/x"}, "",
			[]string{`failed: boom"`}, []string{"releases/1"}},
		{config.Sink{Name: "team", Type: config.SinkPagerDuty, URL: "https://events.pagerduty.example.com/v2/enqueue"}, "",
			[]string{`"event_action":"trigger"`}, []string{"links"}},
	} {
		t.Run(string(tc.sink.Type)+" "+tc.publicURL, func(t *testing.T) {
			e := newPersonEnv(t, tc.publicURL, tc.sink)
			r := e.create(t, "1.0")
			testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
				return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionReleaseFailed, shipgate.ReleaseSubject(r.ID), map[string]any{"reason": "boom"}))
			})
			notes := e.outbox(t)
			last := notes[len(notes)-1]
			if !json.Valid([]byte(last.Payload)) {
				t.Fatalf("payload %s", last.Payload)
			}
			for _, want := range tc.want {
				if !strings.Contains(last.Payload, want) {
					t.Errorf("payload lacks %s:\n%s", want, last.Payload)
				}
			}
			for _, not := range tc.not {
				if strings.Contains(last.Payload, not) {
					t.Errorf("payload has %s:\n%s", not, last.Payload)
				}
			}
		})
	}
}

package notify_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestRollbackCallOffNamesWhoAndWhy: a rollback a person calls off is
// announced with their name and words (escaped in Slack), and resolves no
// incident: the failure they judged harmless is still theirs to close.
func TestRollbackCallOffNamesWhoAndWhy(t *testing.T) {
	db := testutil.NewStore(t, "sqlite")
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db.Now = clock.Now
	sinks := []config.Sink{
		{Name: "chat", Type: config.SinkSlack, URL: "https://hooks.slack.example.com/x"},
		{Name: "hook", Type: config.SinkWebhook, URL: "https://hook.example.com/x"},
		{Name: "pager", Type: config.SinkPagerDuty, RoutingKey: "k"},
	}
	db.Outbox = (&notify.Enqueuer{Sinks: sinks, Source: "shipgate/test"}).Outbox
	testutil.MustApply(t, db, `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: production
      rollback: {enabled: true, check_target: pipeline, delay_seconds: 600}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`)
	e := &env{db: db, disp: &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}}
	e.deploy(t, "1.0", false)
	v2 := e.deploy(t, "2.0", true)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CallOffRollback(ctx, tx, "carol", v2.ID, "the <!channel> errors came from the load balancer")
		return err
	})
	var notes []sqlstore.Notification
	db.View(ctx, func(tx *sqlstore.Tx) error { notes, _ = tx.ListNotifications(ctx, "", 1000); return nil })
	want := map[string]string{
		"chat": "called off by carol: the &lt;!channel&gt; errors came from the load balancer",
		"hook": "called off by carol: the <!channel> errors came from the load balancer",
	}
	seen := 0
	for _, n := range notes {
		if n.EventType != "dev.cdeventsx.shipgate-rollback.calledoff.0.1.0" {
			continue
		}
		if n.Sink == "pager" {
			t.Errorf("a person's call-off went to PagerDuty: %s", n.Payload)
			continue
		}
		var text string
		if n.Sink == "chat" {
			var msg struct{ Text string }
			json.Unmarshal([]byte(n.Payload), &msg)
			text = msg.Text
		} else {
			text = decode(t, n).Data.CustomData.Summary
		}
		seen++
		if !strings.Contains(text, want[n.Sink]) {
			t.Errorf("called_off to %s says %q; want %q in it", n.Sink, text, want[n.Sink])
		}
	}
	if seen != 2 {
		t.Fatalf("found %d of the 2 called-off notifications among %d", seen, len(notes))
	}
}

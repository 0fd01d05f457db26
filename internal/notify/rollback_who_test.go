package notify_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestRollbackHeldAndFiredNameWhoAndWhy: the held notification says who
// held the rollback and why, the fired one who fired it with `rollback
// now` and why (not "triggered by user"); a person's words are escaped in
// Slack as every other field is.
func TestRollbackHeldAndFiredNameWhoAndWhy(t *testing.T) {
	db, v2 := failedWithPendingRollback(t, []config.Sink{
		{Name: "chat", Type: config.SinkSlack, URL: "https://hooks.slack.example.com/x"},
		{Name: "hook", Type: config.SinkWebhook, URL: "https://hook.example.com/x"},
	})
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.HoldRollback(ctx, tx, "carol", v2.ID, "checking <!channel> dashboards first")
		return err
	})
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RollbackNow(ctx, tx, "dave", v2.ID, "dashboards say broken"); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, v2.ID)
		return err
	})
	var notes []sqlstore.Notification
	db.View(ctx, func(tx *sqlstore.Tx) error { notes, _ = tx.ListNotifications(ctx, "", 1000); return nil })
	want := map[string]map[string]string{
		"dev.cdeventsx.shipgate-rollback.held.0.1.0": {
			"chat": "held by carol: checking &lt;!channel&gt; dashboards first",
			"hook": "held by carol: checking <!channel> dashboards first",
		},
		"dev.cdeventsx.shipgate-rollback.fired.0.1.0": {
			"chat": "fired by dave: dashboards say broken",
			"hook": "fired by dave: dashboards say broken",
		},
	}
	seen := 0
	for _, n := range notes {
		words, ok := want[n.EventType][n.Sink]
		if !ok {
			continue
		}
		seen++
		text := noteText(t, n)
		if !strings.Contains(text, words) {
			t.Errorf("%s to %s says %q; want %q in it", n.EventType, n.Sink, text, words)
		}
		if n.Sink == "chat" && strings.ContainsAny(text, "<>") {
			t.Errorf("slack text is not escaped: %q", text)
		}
	}
	if seen != 4 {
		t.Fatalf("found %d of the 4 held/fired notifications among %d", seen, len(notes))
	}
}

// TestRollbackCallOffNamesWhoAndWhy: a rollback a person calls off is
// announced with their name and words (escaped in Slack), and resolves no
// incident: the failure they judged harmless is still theirs to close.
func TestRollbackCallOffNamesWhoAndWhy(t *testing.T) {
	db, v2 := failedWithPendingRollback(t, []config.Sink{
		{Name: "chat", Type: config.SinkSlack, URL: "https://hooks.slack.example.com/x"},
		{Name: "hook", Type: config.SinkWebhook, URL: "https://hook.example.com/x"},
		{Name: "pager", Type: config.SinkPagerDuty, RoutingKey: "k"},
	})
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
		text := noteText(t, n)
		seen++
		if !strings.Contains(text, want[n.Sink]) {
			t.Errorf("called_off to %s says %q; want %q in it", n.Sink, text, want[n.Sink])
		}
	}
	if seen != 2 {
		t.Fatalf("found %d of the 2 called-off notifications among %d", seen, len(notes))
	}
}

// failedWithPendingRollback is a production environment of web where 1.0
// succeeded and 2.0 failed, its rollback pending for 10 minutes, with
// notifications to sinks.
func failedWithPendingRollback(t *testing.T, sinks []config.Sink) (*sqlstore.DB, *shipgate.Release) {
	t.Helper()
	db := testutil.NewStore(t, "sqlite")
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db.Now = clock.Now
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
	return db, e.deploy(t, "2.0", true)
}

// noteText is what a person reads of a notification: Slack's text, or the
// webhook event's summary.
func noteText(t *testing.T, n sqlstore.Notification) string {
	t.Helper()
	if n.Sink == "chat" {
		var msg struct{ Text string }
		json.Unmarshal([]byte(n.Payload), &msg)
		return msg.Text
	}
	return decode(t, n).Data.CustomData.Summary
}

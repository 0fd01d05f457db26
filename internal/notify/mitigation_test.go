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

// TestFailureNotificationsNameFlippedFlags: the failed and the
// pending-rollback notifications of a release whose rollback policy
// flipped flags say which flags now serve what, to people (Slack text,
// the webhook's summary) and to programs (customData.flags); those of a
// release with no mitigations say nothing of flags.
func TestFailureNotificationsNameFlippedFlags(t *testing.T) {
	db := testutil.NewStore(t, "sqlite")
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db.Now = clock.Now
	db.Outbox = (&notify.Enqueuer{Sinks: []config.Sink{
		{Name: "chat", Type: config.SinkSlack, URL: "https://hooks.slack.example.com/x"},
		{Name: "hook", Type: config.SinkWebhook, URL: "https://hook.example.com/x"},
	}, Source: "shipgate/test"}).Outbox
	testutil.MustApply(t, db, `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
  environments:
    - name: production
      rollback: {enabled: true, delay_seconds: 600, mitigations: [{flag: new-checkout}]}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`)
	e := &env{db: db, disp: &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}}
	e.deploy(t, "1.0", false)
	v2 := e.deploy(t, "2.0", true)
	var notes []sqlstore.Notification
	db.View(ctx, func(tx *sqlstore.Tx) error { notes, _ = tx.ListNotifications(ctx, "", 1000); return nil })
	types := map[string]bool{"dev.cdevents.pipelinerun.finished.0.2.0": true, "dev.cdeventsx.shipgate-rollback.pending.0.1.0": true}
	seen := 0
	for _, n := range notes {
		var msg struct {
			Text string `json:"text"`
			Data struct {
				CustomData struct {
					Release int64               `json:"release"`
					Summary string              `json:"summary"`
					Flags   []shipgate.FlagFlip `json:"flags"`
				} `json:"customData"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(n.Payload), &msg); err != nil {
			t.Fatal(err)
		}
		text, cd := msg.Text, msg.Data.CustomData
		if n.Sink == "hook" {
			text = cd.Summary
		}
		mine := strings.Contains(text, "release "+jsonInt(v2.ID)+" ")
		if !mine || !types[n.EventType] {
			if strings.Contains(text, "flags flipped") {
				t.Errorf("%s to %s names flips: %q", n.EventType, n.Sink, text)
			}
			continue
		}
		seen++
		if !strings.Contains(text, "flags flipped: new-checkout → off") {
			t.Errorf("%s to %s says %q; want the flipped flag in it", n.EventType, n.Sink, text)
		}
		if n.Sink == "hook" {
			if fs := cd.Flags; len(fs) != 1 || fs[0].Flag != "new-checkout" || fs[0].Variant != "off" || !fs[0].Flipped {
				t.Errorf("%s customData.flags = %+v", n.EventType, fs)
			}
		}
	}
	if seen != 4 {
		t.Fatalf("found %d of the 4 failed/pending notifications among %d", seen, len(notes))
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

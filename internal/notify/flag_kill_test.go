package notify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestFlagKillNotifies: a kill reaches the webhook (a CloudEvent of the
// custom flag type), Slack (one line naming who, what it serves, why) and
// PagerDuty (a trigger per flag); enabling the flag again resolves the
// PagerDuty incident only; other flag changes notify nobody.
func TestFlagKillNotifies(t *testing.T) {
	hook, slack, pd := newReceiver(t), newReceiver(t), newReceiver(t)
	e := newEnv(t,
		config.Sink{Name: "hook", Type: config.SinkWebhook, URL: hook.srv.URL},
		config.Sink{Name: "chat", Type: config.SinkSlack, URL: slack.srv.URL},
		config.Sink{Name: "pd", Type: config.SinkPagerDuty, URL: pd.srv.URL, RoutingKey: "R0UTING"})
	testutil.MustApply(t, e.db, `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  flags:
    - {key: new-checkout, type: boolean, variants: {"on": true, "off": false}, default_variant: "on", safe_variant: "off"}
  environments:
    - name: production
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`)
	change := func(op shipgate.FlagChangeOp, mutate func(*shipgate.Flag) error) {
		testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
			_, err := tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "carol", Service: "shop", Environment: "production", Key: "new-checkout", Op: op, Reason: "tuning", Mutate: mutate})
			return err
		})
	}
	change(shipgate.FlagOpRollout, func(f *shipgate.Flag) error {
		f.Rollout = &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "on", Percent: 50}, {Variant: "off", Percent: 50}}}
		return nil
	})
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		_, err := tx.KillFlag(ctx, "carol", "shop", "production", "new-checkout", "INC-1 checkout errors")
		return err
	})
	e.drain(t)
	hb, _ := hook.got()
	sb, _ := slack.got()
	pb, _ := pd.got()
	if len(hb) != 1 || len(sb) != 1 || len(pb) != 1 {
		t.Fatalf("deliveries: hook %d, slack %d, pagerduty %d; want one each (the rollout notifies nobody)", len(hb), len(sb), len(pb))
	}
	var ce struct {
		Type, Subject string
		Data          struct{ CustomData map[string]any }
	}
	json.Unmarshal(hb[0], &ce)
	if ce.Type != notify.FlagKilledType || ce.Subject != "flag/shop/production/new-checkout" || ce.Data.CustomData["actor"] != "carol" {
		t.Fatalf("webhook event: %s", hb[0])
	}
	var msg struct{ Text string }
	json.Unmarshal(sb[0], &msg)
	if want := "carol killed flag new-checkout of shop in production: serves off to everyone — INC-1 checkout errors"; !strings.Contains(msg.Text, want) {
		t.Fatalf("slack text %q lacks %q", msg.Text, want)
	}
	var trig struct {
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     struct{ Severity string }
	}
	json.Unmarshal(pb[0], &trig)
	if trig.EventAction != "trigger" || trig.DedupKey != notify.FlagDedupKey("shop", "production", "new-checkout") || trig.Payload.Severity != "warning" {
		t.Fatalf("pagerduty trigger: %s", pb[0])
	}

	change(shipgate.FlagOpEnable, nil)
	e.drain(t)
	hb, _ = hook.got()
	sb, _ = slack.got()
	pb, _ = pd.got()
	if len(hb) != 1 || len(sb) != 1 || len(pb) != 2 || !strings.Contains(string(pb[1]), `"event_action":"resolve"`) || !strings.Contains(string(pb[1]), trig.DedupKey) {
		t.Fatalf("after enable: hook %d, slack %d, pagerduty %s", len(hb), len(sb), pb)
	}
}

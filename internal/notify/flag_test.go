package notify

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
)

// TestFlagKillValidatesAgainstCDEvents: the webhook event of a kill (by
// hand and by "kill --release") validates as a custom CDEvent.
func TestFlagKillValidatesAgainstCDEvents(t *testing.T) {
	loadSchemas(t)
	before := &shipgate.Flag{Key: "new-checkout", Type: shipgate.FlagBoolean, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "on", SafeVariant: "off"}
	after := *before
	after.Disabled = true
	for _, release := range []int64{0, 7} {
		for _, q := range cdeventsEnqueuers() {
			e := shipgate.NewAuditEvent("carol", shipgate.ActionFlagKilled, shipgate.FlagSubject("web", "production", "new-checkout"), map[string]any{
				"service": "web", "environment": "production", "key": "new-checkout", "op": "kill", "reason": "INC-1", "change": 3,
				"before": before, "after": &after, "severity": "incident", "release": release,
			})
			e.Seq, e.At = 42, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
			d := flagDetails{Service: "web", Environment: "production", Key: "new-checkout", Op: "kill", Reason: "INC-1", Release: release, Before: before, After: &after}
			body, err := q.renderFlag(config.Sink{Type: config.SinkWebhook}, e, d, "carol killed it", false)
			if err != nil {
				t.Fatal(err)
			}
			data, err := validateCloudEvent(body)
			if err != nil {
				t.Fatalf("release %d: %v\n%s", release, err, body)
			}
			if data["context"].(map[string]any)["type"] != FlagKilledType {
				t.Fatalf("type = %v", data["context"])
			}
		}
	}
}

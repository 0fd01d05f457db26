package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// rollingAgent registers web-1 and claims the fixture's release, ready to
// report a rollout.
func rollingAgent(t *testing.T) (*fixture, *client.Agent, *shipgate.Assignment, string) {
	t.Helper()
	f, token, _ := agentFixture(t)
	reg, err := register(t, f, token, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	ag := client.NewAgent(f.srv.URL, reg.Secret)
	asg, ok, err := ag.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: time.Second})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	return f, ag, asg, reg.Secret
}

func rollout(seq int64, phase string, step int) shipgate.RolloutStatus {
	s := shipgate.RolloutStatus{Seq: seq, Strategy: "canary", Phase: phase, Step: step, Pause: step, Steps: 3, Weight: 20,
		StableVersion: "0", CanaryVersion: "1", UpdatedAt: time.Now()}
	if phase == shipgate.RolloutPaused {
		s.Paused = "manual pause: check the dashboards"
	}
	return s
}

func (f *fixture) count(t *testing.T, action string) int {
	t.Helper()
	n := 0
	f.db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
		for _, e := range events {
			if e.Action == action {
				n++
			}
		}
		return nil
	})
	return n
}

func TestPromote(t *testing.T) {
	f, ag, asg, _ := rollingAgent(t)
	id := asg.Key.ReleaseID
	carol, viewer := f.client("carol"), f.client("viewer")
	if _, err := carol.Promote(ctx, id, ""); shipgate.ErrorCode(err) != shipgate.ECONFLICT || shipgate.ErrorMessage(err) != fmt.Sprintf("release %d has no rollout", id) {
		t.Fatalf("promote before any rollout: %v", err)
	}
	reply, err := ag.Rollout(ctx, "", asg.Key, rollout(1, shipgate.RolloutPaused, 1))
	if err != nil || reply.PromotedThrough != -1 {
		t.Fatalf("report: %+v %v", reply, err)
	}
	// The release shows the rollout, in the documented shape.
	status, raw := f.raw(t, "GET", fmt.Sprintf("/api/v1/releases/%d", id), f.tokens["viewer"], nil)
	ros, _ := raw["rollouts"].([]any)
	if status != 200 || len(ros) != 1 {
		t.Fatalf("release view: %d %v", status, raw["rollouts"])
	}
	ro := ros[0].(map[string]any)
	st, _ := ro["status"].(map[string]any)
	if ro["job"] != "deploy" || ro["attempt"] != float64(1) || ro["promoted_through"] != float64(-1) || st["phase"] != "paused" || st["paused"] != "manual pause: check the dashboards" {
		t.Fatalf("rollout in view: %v", ro)
	}
	// Viewers may not promote; the refusal is audited.
	if _, err := viewer.Promote(ctx, id, ""); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("viewer promotes: %v", err)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionAccessDenied || e.Actor != "viewer" || e.Subject != fmt.Sprintf("release/%d", id) {
		t.Fatalf("refusal not audited: %+v", e)
	}
	if _, err := carol.Promote(ctx, 999, ""); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("promote an unknown release: %v", err)
	}
	v, err := carol.Promote(ctx, id, "dashboards are green")
	if err != nil || len(v.Rollouts) != 1 || v.Rollouts[0].PromotedThrough != 1 {
		t.Fatalf("promote: %+v %v", v, err)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionRolloutPromoted || e.Actor != "carol" || !strings.Contains(string(e.Details), `"comment":"dashboards are green"`) {
		t.Fatalf("promotion audited as %+v %s", e, e.Details)
	}
	// Promoting again before the agent reported is refused, and recorded once.
	if _, err := carol.Promote(ctx, id, ""); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "already promoted") {
		t.Fatalf("second promote: %v", err)
	}
	if n := f.count(t, shipgate.ActionRolloutPromoted); n != 1 {
		t.Fatalf("%d rollout.promoted events", n)
	}
	reply, err = ag.Rollout(ctx, "", asg.Key, rollout(2, shipgate.RolloutProgressing, 2))
	if err != nil || reply.PromotedThrough != 1 {
		t.Fatalf("report after promote: %+v %v", reply, err)
	}
	status, body := f.raw(t, "POST", fmt.Sprintf("/api/v1/releases/%d/promote", id), f.tokens["carol"], []byte(`{}`))
	want := fmt.Sprintf("release %d has no paused rollout: its rollout is progressing at step 2 of 3", id)
	if msg, _ := body["error"].(map[string]any)["message"].(string); status != 409 || msg != want {
		t.Fatalf("promote a progressing rollout: %d %v", status, body)
	}
}

func TestAgentRolloutRefusals(t *testing.T) {
	f, ag, asg, secret := rollingAgent(t)
	if _, err := client.NewAgent(f.srv.URL, "sgs_not-a-secret").Rollout(ctx, "", asg.Key, rollout(1, shipgate.RolloutProgressing, 0)); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("wrong agent secret: %v", err)
	}
	if _, err := ag.Rollout(ctx, "", asg.Key, rollout(1, shipgate.RolloutProgressing, 0)); err != nil {
		t.Fatal(err)
	}
	audited := f.lastEvent(t).Seq
	big := rollout(2, shipgate.RolloutAborted, 0)
	big.Message = strings.Repeat("x", 70<<10)
	req, _ := json.Marshal(client.RolloutRequest{Key: asg.Key, Status: big})
	status, body := f.raw(t, "POST", "/api/v1/agent/rollout", secret, req)
	if msg, _ := body["error"].(map[string]any)["message"].(string); status != 400 || !strings.HasPrefix(msg, "the rollout status is ") || !strings.Contains(msg, "the limit is 65536") {
		t.Fatalf("oversized status: %d %v", status, body)
	}
	v, err := f.client("viewer").Release(ctx, asg.Key.ReleaseID)
	if err != nil || len(v.Rollouts) != 1 || v.Rollouts[0].Status.Seq != 1 || v.Rollouts[0].Status.Phase != shipgate.RolloutProgressing {
		t.Fatalf("after an oversized report: %+v %v", v.Rollouts, err)
	}
	if f.lastEvent(t).Seq != audited {
		t.Fatal("an oversized report was audited")
	}
	// Steps count from 1 up to steps: a step beyond them is refused.
	beyond, _ := json.Marshal(client.RolloutRequest{Key: asg.Key, Status: rollout(2, shipgate.RolloutProgressing, 4)})
	status, body = f.raw(t, "POST", "/api/v1/agent/rollout", secret, beyond)
	if msg, _ := body["error"].(map[string]any)["message"].(string); status != 400 || !strings.Contains(msg, "rollout step 4 is outside 0..3") || f.lastEvent(t).Seq != audited {
		t.Fatalf("a step beyond the strategy's: %d %v", status, body)
	}
}

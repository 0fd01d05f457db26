package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestPausedNotificationNamesTheShownStep: a rollout an agent reports
// paused at its second step (steps count from 1) is announced as paused at
// step 2 — the step the stored status, which `release show` prints as
// "step 2 of 3", names — not 1 or 3.
func TestPausedNotificationNamesTheShownStep(t *testing.T) {
	e := newEnv(t, config.Sink{Name: "hook", Type: config.SinkWebhook, URL: "https://hook.example.com/x"})
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "production", Version: "2.0", Artifact: testutil.Artifact("2.0"), CreatedBy: "carol"})
		return err
	})
	reconcileOne(t, e.db, 1)
	a, ok, err := e.disp.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	status := shipgate.RolloutStatus{Seq: 1, Strategy: "canary", Phase: shipgate.RolloutPaused, Step: 2, Steps: 3, Pause: 1, Weight: 10,
		Paused: "manual pause", StableVersion: "1.0", CanaryVersion: "2.0", UpdatedAt: time.Date(2026, 3, 2, 10, 0, 1, 0, time.UTC)}
	if _, err := e.disp.Rollout(ctx, "r", a.Key, status); err != nil {
		t.Fatal(err)
	}
	var shown int
	var notes []sqlstore.Notification
	e.db.View(ctx, func(tx *sqlstore.Tx) error {
		ros, err := tx.ListRollouts(ctx, a.Key.ReleaseID, a.Key.Run)
		if err != nil || len(ros) != 1 {
			t.Fatalf("rollouts %v %v", ros, err)
		}
		shown = ros[0].Status.Step
		notes, _ = tx.ListNotifications(ctx, "", 100)
		return nil
	})
	if shown != 2 {
		t.Fatalf("stored step %d, want 2", shown)
	}
	for _, n := range notes {
		if n.EventType != "dev.cdeventsx.shipgate-rollout.paused.0.1.0" {
			continue
		}
		if sum := decode(t, n).Data.CustomData.Summary; !strings.Contains(sum, "paused at step 2 of 3 ") {
			t.Fatalf("paused notification %q does not name step 2 of 3, as release show does", sum)
		}
		return
	}
	t.Fatal("no rollout.paused notification")
}

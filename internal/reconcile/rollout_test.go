package reconcile_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

var ctx = context.Background()

// rolloutFixture is a running staging release whose deploy job runner r
// has claimed.
func rolloutFixture(t *testing.T) (*sqlstore.DB, *reconcile.Dispatcher, *shipgate.Assignment) {
	t.Helper()
	db := testutil.NewStore(t, "sqlite")
	testutil.MustApply(t, db, testutil.ServiceYAML)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		r, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "2.0", Artifact: testutil.Artifact("2.0"), CreatedBy: "carol"})
		if err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r.ID)
		return err
	})
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	return db, d, a
}

// events returns the rollout and analysis events of the release after seq.
func events(t *testing.T, db *sqlstore.DB, id, after int64) []shipgate.AuditEvent {
	t.Helper()
	var out []shipgate.AuditEvent
	db.View(ctx, func(tx *sqlstore.Tx) error {
		all, err := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: id, AfterSeq: after, Limit: 10000})
		for _, e := range all {
			if strings.HasPrefix(e.Action, "rollout.") || strings.HasPrefix(e.Action, "analysis.") {
				out = append(out, e)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	return out
}

func actions(es []shipgate.AuditEvent) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Actor+":"+e.Action)
	}
	return strings.Join(s, " ")
}

func status(seq int64, phase string, step, weight int, ds ...shipgate.AnalysisDecision) shipgate.RolloutStatus {
	return shipgate.RolloutStatus{Seq: seq, Strategy: "canary", Phase: phase, Step: step, Pause: step + 1, Steps: 6, Weight: weight,
		StableVersion: "1.0", CanaryVersion: "2.0", Decisions: ds, UpdatedAt: time.Now()}
}

var t0 = time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC)

// Every transition of a rollout is audited exactly once, however often the
// agent repeats a status, and late reports change nothing.
func TestRolloutTransitionsAuditedOnce(t *testing.T) {
	db, d, a := rolloutFixture(t)
	id := a.Key.ReleaseID
	ok := shipgate.AnalysisDecision{At: t0, Step: 1, Judge: "threshold", Metric: "error_rate", Phase: shipgate.AnalysisSuccessful, Summary: "error rate 0.1% is below 1%"}
	fail := shipgate.AnalysisDecision{At: t0.Add(time.Minute), Step: 3, Background: true, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisFailed,
		Summary: "canary 2.0 fails 4.1% of requests against stable's 0.2%", Evidence: map[string]any{"canary_errors": 41, "stable_errors": 20}}
	steps := []struct {
		s    shipgate.RolloutStatus
		want string
	}{
		{status(1, shipgate.RolloutStarting, 0, 0), ""},
		{status(2, shipgate.RolloutProgressing, 0, 10), "system:rollout.step"},
		{status(2, shipgate.RolloutProgressing, 0, 10), ""}, // repeated
		{status(1, shipgate.RolloutPaused, 0, 0), ""},       // late
		{status(3, shipgate.RolloutProgressing, 1, 10, ok), ""},
		{status(4, shipgate.RolloutPaused, 2, 10, ok), "system:rollout.paused"},
		{status(5, shipgate.RolloutPaused, 2, 10, ok), ""},
	}
	var seq int64
	for i, st := range steps {
		if st.s.Phase == shipgate.RolloutPaused {
			st.s.Paused = "manual pause at step 3"
		}
		reply, err := d.Rollout(ctx, "r", a.Key, st.s)
		if err != nil || reply.PromotedThrough != -1 {
			t.Fatalf("report %d: %+v %v", i, reply, err)
		}
		es := events(t, db, id, seq)
		if got := actions(es); got != st.want {
			t.Fatalf("report %d (seq %d %s): events %q, want %q", i, st.s.Seq, st.s.Phase, got, st.want)
		}
		if len(es) > 0 {
			seq = es[len(es)-1].Seq
		}
	}
	// A person promotes; the next report hears it.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.PromoteRollout(ctx, tx, "carol", id, "looks fine")
		return err
	})
	reply, err := d.Rollout(ctx, "r", a.Key, status(6, shipgate.RolloutProgressing, 3, 50, ok))
	if err != nil || reply.PromotedThrough != 3 {
		t.Fatalf("report after promote: %+v %v", reply, err)
	}
	es := events(t, db, id, seq)
	if got := actions(es); got != "carol:rollout.promoted system:rollout.step" {
		t.Fatalf("after promote: %q", got)
	}
	var promoted, step map[string]any
	json.Unmarshal(es[0].Details, &promoted)
	json.Unmarshal(es[1].Details, &step)
	// Every event naming a step says how steps are counted (from 1).
	if promoted["step"] != float64(2) || promoted["step_base"] != float64(1) {
		t.Fatalf("rollout.promoted details %s", es[0].Details)
	}
	if step["weight_from"] != float64(10) || step["weight_to"] != float64(50) || step["canary_version"] != "2.0" || step["step"] != float64(3) || step["step_base"] != float64(1) || step["runner"] != "r" {
		t.Fatalf("rollout.step details %s", es[1].Details)
	}
	seq = es[len(es)-1].Seq
	// A failing decision is judged once, when it first appears.
	for s := int64(7); s <= 8; s++ {
		if _, err := d.Rollout(ctx, "r", a.Key, status(s, shipgate.RolloutProgressing, 3, 50, ok, fail)); err != nil {
			t.Fatal(err)
		}
	}
	es = events(t, db, id, seq)
	if got := actions(es); got != "system:analysis.judged" || !strings.Contains(string(es[0].Details), `"summary":"canary 2.0 fails 4.1% of requests against stable's 0.2%"`) ||
		!strings.Contains(string(es[0].Details), `"canary_errors":41`) {
		t.Fatalf("judged: %q %+v", got, es)
	}
	var judged map[string]any
	json.Unmarshal(es[0].Details, &judged)
	if judged["step"] != float64(3) || judged["background"] != true || judged["step_base"] != float64(1) {
		t.Fatalf("analysis.judged details %s", es[0].Details)
	}
	seq = es[0].Seq
	// Another runner cannot report the attempt.
	if _, err := d.Rollout(ctx, "other", a.Key, status(9, shipgate.RolloutAborted, 3, 0, ok, fail)); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("report by another runner: %v", err)
	}
	// The agent fails the job, then reports the abort: it still lands.
	if err := d.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Reason: "rollout aborted"}); err != nil {
		t.Fatal(err)
	}
	for s := int64(9); s <= 10; s++ {
		if _, err := d.Rollout(ctx, "r", a.Key, status(s, shipgate.RolloutAborted, 3, 0, ok, fail)); err != nil {
			t.Fatalf("abort report after the job ended: %v", err)
		}
	}
	es = events(t, db, id, seq)
	if got := actions(es); got != "system:rollout.aborted" {
		t.Fatalf("abort: %q", got)
	}
	var ab map[string]any
	json.Unmarshal(es[0].Details, &ab)
	if ab["reason"] != fail.Summary || ab["weight"] != float64(50) || ab["step"] != float64(3) || ab["step_base"] != float64(1) || ab["evidence"].(map[string]any)["stable_errors"] != float64(20) {
		t.Fatalf("rollout.aborted details %s", es[0].Details)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatalf("audit verify: %d %v", n, err)
	}
}

// An agent older than the 1-based step numbers marks a background
// decision with step -1: it is recorded as a background decision, with no
// step (0), never as step -1.
func TestRolloutLegacyBackgroundDecision(t *testing.T) {
	db, d, a := rolloutFixture(t)
	old := shipgate.AnalysisDecision{At: t0, Step: -1, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisFailed, Summary: "canary worse"}
	if _, err := d.Rollout(ctx, "r", a.Key, status(1, shipgate.RolloutProgressing, 1, 10, old)); err != nil {
		t.Fatal(err)
	}
	es := events(t, db, a.Key.ReleaseID, 0)
	if got := actions(es); got != "system:analysis.judged system:rollout.step" {
		t.Fatalf("events %q", got)
	}
	var judged map[string]any
	json.Unmarshal(es[0].Details, &judged)
	if judged["step"] != float64(0) || judged["background"] != true || judged["step_base"] != float64(1) {
		t.Fatalf("analysis.judged details %s", es[0].Details)
	}
}

func TestRolloutCompletedOnce(t *testing.T) {
	db, d, a := rolloutFixture(t)
	for s, st := range []shipgate.RolloutStatus{
		status(1, shipgate.RolloutProgressing, 5, 50),
		status(2, shipgate.RolloutPromoted, 6, 100),
		status(3, shipgate.RolloutPromoted, 6, 100),
	} {
		if _, err := d.Rollout(ctx, "r", a.Key, st); err != nil {
			t.Fatalf("report %d: %v", s, err)
		}
	}
	es := events(t, db, a.Key.ReleaseID, 0)
	// 0 → 50% is a step; 50 → 100% is the completion, recorded once.
	if got := actions(es); got != "system:rollout.step system:rollout.completed" || !strings.Contains(string(es[1].Details), `"version":"2.0"`) {
		t.Fatalf("events %q %s", got, es[len(es)-1].Details)
	}
}

func TestRolloutOversizedChangesNothing(t *testing.T) {
	db, d, a := rolloutFixture(t)
	if _, err := d.Rollout(ctx, "r", a.Key, status(1, shipgate.RolloutProgressing, 0, 10)); err != nil {
		t.Fatal(err)
	}
	before, _ := db.VerifyAudit(ctx)
	big := status(2, shipgate.RolloutAborted, 0, 0)
	big.Message = strings.Repeat("x", 65<<10)
	if reply, err := d.Rollout(ctx, "r", a.Key, big); shipgate.ErrorCode(err) != shipgate.EINVALID || reply.PromotedThrough != -1 {
		t.Fatalf("oversized: %+v %v", reply, err)
	}
	if after, _ := db.VerifyAudit(ctx); after != before {
		t.Fatalf("audit grew from %d to %d", before, after)
	}
}

// Once the job has ended, only a final status still lands: a late report
// that the rollout is progressing changes and audits nothing.
func TestRolloutAfterTheJobEndedTakesOnlyAFinalStatus(t *testing.T) {
	db, d, a := rolloutFixture(t)
	if _, err := d.Rollout(ctx, "r", a.Key, status(1, shipgate.RolloutProgressing, 0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := d.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Reason: "aborted"}); err != nil {
		t.Fatal(err)
	}
	before := actions(events(t, db, a.Key.ReleaseID, 0))
	if _, err := d.Rollout(ctx, "r", a.Key, status(2, shipgate.RolloutProgressing, 1, 50)); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("a progressing report after the job ended: %v", err)
	}
	if got := actions(events(t, db, a.Key.ReleaseID, 0)); got != before {
		t.Fatalf("events changed: %q → %q", before, got)
	}
	if _, err := d.Rollout(ctx, "r", a.Key, status(3, shipgate.RolloutAborted, 1, 0)); err != nil {
		t.Fatalf("the final aborted report: %v", err)
	}
	if got := actions(events(t, db, a.Key.ReleaseID, 0)); !strings.HasSuffix(got, "system:rollout.aborted") {
		t.Fatalf("events after the final report: %q", got)
	}
}

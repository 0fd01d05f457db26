package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// claimedDeploy starts a staging release and claims its deploy job.
func claimedDeploy(t *testing.T, db *sqlstore.DB) *shipgate.Assignment {
	t.Helper()
	testutil.MustApply(t, db, testutil.ServiceYAML)
	if _, err := newRelease(db, "staging", "2.0", "carol"); err != nil {
		t.Fatal(err)
	}
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	return a
}

func putRollout(db *sqlstore.DB, a *shipgate.Assignment, s shipgate.RolloutStatus) (*sqlstore.Rollout, bool, error) {
	var ro *sqlstore.Rollout
	var fresh bool
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		var err error
		ro, fresh, err = tx.PutRollout(ctx, a.JobID, a.Key.Attempt, s)
		return err
	})
	return ro, fresh, err
}

func storedRollout(t *testing.T, db *sqlstore.DB, a *shipgate.Assignment) *sqlstore.Rollout {
	t.Helper()
	var ro *sqlstore.Rollout
	err := db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		ro, err = tx.FindRollout(ctx, a.JobID, a.Key.Attempt)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ro
}

func canary(seq int64, phase string, step, weight int) shipgate.RolloutStatus {
	return shipgate.RolloutStatus{Seq: seq, Strategy: "canary", Phase: phase, Step: step, Pause: step + 1, Steps: 5, Weight: weight,
		StableVersion: "1.0", CanaryVersion: "2.0", UpdatedAt: time.Date(2026, 3, 2, 10, 0, int(seq), 0, time.UTC)}
}

func testRolloutStaleSeq(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	a := claimedDeploy(t, db)
	ro, fresh, err := putRollout(db, a, canary(2, shipgate.RolloutProgressing, 1, 10))
	if err != nil || !fresh || ro.Job != "deploy" || ro.Attempt != a.Key.Attempt || ro.PromotedThrough != -1 || ro.Status.Weight != 10 {
		t.Fatalf("first report: %+v %v %v", ro, fresh, err)
	}
	for _, seq := range []int64{1, 2} {
		ro, fresh, err := putRollout(db, a, canary(seq, shipgate.RolloutProgressing, 2, 50))
		if err != nil || fresh || ro.Status.Seq != 2 || ro.Status.Weight != 10 {
			t.Fatalf("late report seq %d: %+v %v %v", seq, ro, fresh, err)
		}
	}
	if ro, fresh, err := putRollout(db, a, canary(3, shipgate.RolloutProgressing, 2, 50)); err != nil || !fresh || ro.Status.Weight != 50 {
		t.Fatalf("newer report: %+v %v %v", ro, fresh, err)
	}
	if got := storedRollout(t, db, a); got.Status.Seq != 3 || got.Status.Step != 2 {
		t.Fatalf("stored %+v", got.Status)
	}
	var list []sqlstore.Rollout
	db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		list, err = tx.ListRollouts(ctx, a.Key.ReleaseID, a.Key.Run)
		return err
	})
	if len(list) != 1 || list[0].Job != "deploy" || list[0].Status.Seq != 3 {
		t.Fatalf("list = %+v", list)
	}
}

func testRolloutBounded(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	a := claimedDeploy(t, db)
	s := canary(1, shipgate.RolloutProgressing, 1, 10)
	s.Message = strings.Repeat("m", 3000) + "\x00"
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i := range 25 {
		ev := map[string]any{"a_long": strings.Repeat("e", 400), "a_nested": map[string]any{"values": strings.Split(strings.Repeat("1,", 100), ",")}}
		for k := range 30 {
			ev[fmt.Sprintf("k%02d", k)] = k
		}
		s.Decisions = append(s.Decisions, shipgate.AnalysisDecision{At: at.Add(time.Duration(i) * time.Second), Step: 1, Judge: "threshold",
			Metric: "error_rate", Phase: shipgate.AnalysisSuccessful, Summary: fmt.Sprintf("decision %d ", i) + strings.Repeat("s", 1200), Evidence: ev})
	}
	for i := range 12 {
		s.Traffic = append(s.Traffic, shipgate.VersionTraffic{Version: fmt.Sprint(i), Role: "canary", Requests: 10})
	}
	ro, fresh, err := putRollout(db, a, s)
	if err != nil || !fresh {
		t.Fatalf("report: %v %v", fresh, err)
	}
	got := storedRollout(t, db, a).Status
	if len(got.Decisions) != sqlstore.MaxRolloutDecisions || !strings.HasPrefix(got.Decisions[0].Summary, "decision 5 ") || !strings.HasPrefix(got.Decisions[19].Summary, "decision 24 ") {
		t.Fatalf("kept %d decisions, first %.12q", len(got.Decisions), got.Decisions[0].Summary)
	}
	if len(got.Traffic) != sqlstore.MaxRolloutTraffic || len(got.Message) > 1000 || strings.ContainsRune(got.Message, 0) {
		t.Fatalf("traffic %d, message %d bytes", len(got.Traffic), len(got.Message))
	}
	for _, d := range got.Decisions {
		if len(d.Summary) > 1000 || len(d.Evidence) != 24 {
			t.Fatalf("decision kept as %d bytes, %d evidence keys", len(d.Summary), len(d.Evidence))
		}
		for k, v := range d.Evidence {
			if s, ok := v.(string); ok && len(s) > 200 {
				t.Fatalf("evidence %s kept as %d bytes", k, len(s))
			}
		}
	}
	if ev := ro.Status.Decisions[0].Evidence; !strings.HasSuffix(ev["a_long"].(string), "…") || !strings.HasPrefix(ev["a_nested"].(string), `{"values":["1"`) {
		t.Fatalf("long evidence kept as %v", ev)
	}
	if ro.Status.Decisions[0].Evidence["k00"] != float64(0) {
		t.Fatalf("short evidence not kept: %v", ro.Status.Decisions[0].Evidence)
	}
	// A later report's decisions are merged in: the latest 20 stay.
	next := canary(2, shipgate.RolloutProgressing, 1, 10)
	next.Decisions = []shipgate.AnalysisDecision{{At: at.Add(time.Minute), Step: 1, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisFailed, Summary: "canary fails"}}
	if _, _, err := putRollout(db, a, next); err != nil {
		t.Fatal(err)
	}
	got = storedRollout(t, db, a).Status
	if n := len(got.Decisions); n != 20 || got.Decisions[n-1].Summary != "canary fails" || !strings.HasPrefix(got.Decisions[0].Summary, "decision 6 ") {
		t.Fatalf("after merge: %d decisions, last %q", n, got.Decisions[n-1].Summary)
	}
	// An oversized report is refused and changes nothing.
	big := canary(3, shipgate.RolloutAborted, 1, 0)
	big.Message = strings.Repeat("x", 70<<10)
	if _, _, err := putRollout(db, a, big); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "the limit is 65536") {
		t.Fatalf("oversized: %v", err)
	}
	bad := canary(3, "exploded", 1, 0)
	if _, _, err := putRollout(db, a, bad); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `rollout phase "exploded"`) {
		t.Fatalf("unknown phase: %v", err)
	}
	unnumbered := canary(3, shipgate.RolloutPaused, 1, 10)
	unnumbered.Pause = 0
	if _, _, err := putRollout(db, a, unnumbered); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "pause number") {
		t.Fatalf("a pause without its number: %v", err)
	}
	if got := storedRollout(t, db, a).Status; got.Seq != 2 || got.Phase != shipgate.RolloutProgressing {
		t.Fatalf("refused reports changed the row: %+v", got)
	}
}

func testRolloutPromote(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	a := claimedDeploy(t, db)
	id := a.Key.ReleaseID
	promote := func(comment string) error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, err := reconcile.PromoteRollout(ctx, tx, "carol", id, comment)
			return err
		})
	}
	if err := promote(""); shipgate.ErrorCode(err) != shipgate.ECONFLICT || shipgate.ErrorMessage(err) != fmt.Sprintf("release %d has no rollout", id) {
		t.Fatalf("promote without a rollout: %v", err)
	}
	if err := db.Update(ctx, func(tx *sqlstore.Tx) error { _, err := reconcile.PromoteRollout(ctx, tx, "carol", 999, ""); return err }); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("promote an unknown release: %v", err)
	}
	putRollout(db, a, canary(1, shipgate.RolloutProgressing, 1, 10))
	// Steps count from 1 everywhere: the refusal names the step the status
	// names, and so does the promotion's audit event.
	want := fmt.Sprintf("release %d has no paused rollout: its rollout is progressing at step 1 of 5", id)
	if err := promote(""); shipgate.ErrorCode(err) != shipgate.ECONFLICT || shipgate.ErrorMessage(err) != want {
		t.Fatalf("promote a progressing rollout: %v", err)
	}
	paused := canary(2, shipgate.RolloutPaused, 2, 10)
	paused.Paused = "manual pause at step 2"
	putRollout(db, a, paused)
	before := actionsOf(db, id)
	if err := promote("metrics look fine"); err != nil {
		t.Fatal(err)
	}
	if got := storedRollout(t, db, a); got.PromotedThrough != 3 { // pause number 3, at step 2
		t.Fatalf("promoted_through = %d", got.PromotedThrough)
	}
	// Promoting the same pause again changes and records nothing, and says
	// so: it must not pass for a promotion of the agent's next pause.
	if err := promote("again"); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "pause 3 of job deploy was already promoted") {
		t.Fatalf("second promote: %v", err)
	}
	if got := strings.TrimPrefix(actionsOf(db, id), before); got != " carol:rollout.promoted" {
		t.Fatalf("events of two promotes: %q", got)
	}
	var details string
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: id})
		details = string(events[len(events)-1].Details)
		return nil
	})
	for _, w := range []string{`"step":2`, `"step_base":1`, `"pause":3`, `"paused":"manual pause at step 2"`, `"comment":"metrics look fine"`, `"job":"deploy"`} {
		if !strings.Contains(details, w) {
			t.Errorf("rollout.promoted details %s lack %s", details, w)
		}
	}
	// Later reports keep the promotion; once the agent moved on, promoting
	// is a conflict.
	if ro, _, err := putRollout(db, a, canary(3, shipgate.RolloutProgressing, 3, 50)); err != nil || ro.PromotedThrough != 3 {
		t.Fatalf("report after promote: %+v %v", ro, err)
	}
	if err := promote(""); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "progressing at step 3 of 5") {
		t.Fatalf("promote after the agent moved on: %v", err)
	}
	verify(t, db)
}

// testRolloutStepNumbers: a report's steps count from 1 (0: before the
// first step); a step outside 0..steps is refused and changes nothing,
// and an older agent's background decision (step -1) is kept as a
// background decision with no step, never as step -1.
func testRolloutStepNumbers(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	a := claimedDeploy(t, db)
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	legacy := canary(1, shipgate.RolloutProgressing, 1, 10)
	legacy.Decisions = []shipgate.AnalysisDecision{{At: at, Step: -1, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisInconclusive, Summary: "not yet"}}
	if _, _, err := putRollout(db, a, legacy); err != nil {
		t.Fatal(err)
	}
	got := storedRollout(t, db, a).Status
	if len(got.Decisions) != 1 || got.Decisions[0].Step != 0 || !got.Decisions[0].Background {
		t.Fatalf("legacy background decision stored as %+v", got.Decisions)
	}
	for name, f := range map[string]func(*shipgate.RolloutStatus){
		"step above steps":   func(s *shipgate.RolloutStatus) { s.Step = 6 },
		"negative step":      func(s *shipgate.RolloutStatus) { s.Step = -1 },
		"negative steps":     func(s *shipgate.RolloutStatus) { s.Steps, s.Step = -1, 0 },
		"step without steps": func(s *shipgate.RolloutStatus) { s.Steps, s.Step = 0, 1 },
		"decision above steps": func(s *shipgate.RolloutStatus) {
			s.Decisions = []shipgate.AnalysisDecision{{At: at.Add(time.Second), Step: 9, Judge: "threshold", Metric: "m", Phase: shipgate.AnalysisFailed, Summary: "x"}}
		},
		"decision below -1": func(s *shipgate.RolloutStatus) {
			s.Decisions = []shipgate.AnalysisDecision{{At: at.Add(time.Second), Step: -2, Judge: "threshold", Metric: "m", Phase: shipgate.AnalysisFailed, Summary: "x"}}
		},
	} {
		s := canary(2, shipgate.RolloutProgressing, 2, 50)
		f(&s)
		if _, _, err := putRollout(db, a, s); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "step") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got := storedRollout(t, db, a).Status; got.Seq != 1 || got.Step != 1 || got.Weight != 10 {
		t.Fatalf("refused reports changed the row: %+v", got)
	}
	last := canary(2, shipgate.RolloutProgressing, 5, 50) // the last step, 5 of 5
	if ro, _, err := putRollout(db, a, last); err != nil || ro.Status.Step != 5 {
		t.Fatalf("the last step: %+v %v", ro, err)
	}
}

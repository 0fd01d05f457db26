package sqlstore_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/kpi"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestKPIHistory drives a history through the reconciler — a deploy that
// fails and passes on a rerun, a canary aborted by its analysis, a
// release cancelled with its manual checklist item unticked, a hotfix — and checks
// the KPIs computed from what the store recorded.
func TestKPIHistory(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testKPIHistory(t, engine)
		})
	}
}

const kpiServiceYAML = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  owner: web-team
  environments:
    - name: staging
      approvals: { required: 0 }
      checklist:
        - name: load test
          gate: start
          manual: { owner: qa }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
      - name: verify
        needs: [deploy]
        steps:
          - run: echo verify
`

func testKPIHistory(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	start := clock.Now()
	testutil.MustApply(t, db, kpiServiceYAML)
	testutil.MustUser(t, db, "quinn", []shipgate.Role{shipgate.RoleViewer}, "qa")
	tick := func(r *shipgate.Release) {
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			return tx.TickChecklist(ctx, &shipgate.ChecklistTick{ReleaseID: r.ID, Item: "load test", Actor: "quinn", Link: "https://ci.example/load/1"})
		})
	}
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	runner := shipgate.RunnerInfo{Name: "r"}
	claim := func() *shipgate.Assignment {
		t.Helper()
		a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: runner})
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		return a
	}
	finish := func(a *shipgate.Assignment, ok bool) {
		t.Helper()
		if err := d.Finish(ctx, runner.Name, a.Key, shipgate.JobOutcome{Succeeded: ok, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	start1 := func(r *shipgate.Release) {
		t.Helper()
		tick(r)
		testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, _, err := reconcile.Release(ctx, tx, r.ID); return err })
	}

	// 1: deploy waits 30 s for a runner and fails; the rerun passes.
	r1, err := newRelease(db, "staging", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	start1(r1)
	clock.Add(30 * time.Second)
	finish(claim(), false)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RerunRelease(ctx, tx, "carol", r1.ID); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, r1.ID)
		return err
	})
	clock.Add(10 * time.Second)
	finish(claim(), true) // deploy: waited 10 s
	finish(claim(), true) // verify: 0 s

	// 2: a canary judged fine at step 1, failed at step 2 after 4 minutes.
	r2, _ := newRelease(db, "staging", "2.0", "carol")
	start1(r2)
	a := claim()
	ok := shipgate.AnalysisDecision{At: clock.Now(), Step: 1, Judge: "threshold", Metric: "error-rate", Phase: shipgate.AnalysisSuccessful, Summary: "error rate 0.1% within 1%"}
	st := shipgate.RolloutStatus{Seq: 1, Strategy: "canary", Phase: shipgate.RolloutProgressing, Step: 1, Steps: 2, Weight: 10, StableVersion: "1.0", CanaryVersion: "2.0", UpdatedAt: clock.Now(), Decisions: []shipgate.AnalysisDecision{ok}}
	if _, err := d.Rollout(ctx, runner.Name, a.Key, st); err != nil {
		t.Fatal(err)
	}
	clock.Add(4 * time.Minute)
	bad := shipgate.AnalysisDecision{At: clock.Now(), Step: 2, Judge: "threshold", Metric: "error-rate", Phase: shipgate.AnalysisFailed, Summary: "error rate 5% above 1%"}
	st.Seq, st.Phase, st.Step, st.Weight, st.Message, st.UpdatedAt = 2, shipgate.RolloutAborted, 2, 0, bad.Summary, clock.Now()
	st.Decisions = append(st.Decisions, bad)
	if _, err := d.Rollout(ctx, runner.Name, a.Key, st); err != nil {
		t.Fatal(err)
	}
	finish(a, false)

	// 3: cancelled waiting for its unticked checklist item.
	r3, _ := newRelease(db, "staging", "3.0", "carol")
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CancelRelease(ctx, tx, "carol", r3.ID, "no load test")
		return err
	})

	// 4: a hotfix of release 1, waiting for its checklist.
	var r4 *shipgate.Release
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		r4, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "4.0", Artifact: testutil.Artifact("4.0"), CreatedBy: "carol", Hotfix: true, Fixes: r1.ID})
		return err
	})

	var h *kpi.History
	window := shipgate.KPIFilter{Team: "web-team", Since: start, Until: clock.Now().Add(time.Second)}
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		h, err = tx.KPIHistory(ctx, window)
		return err
	})
	k := kpi.Compute(h, window)
	if !reflect.DeepEqual(k.ReleaseIDs, []int64{r1.ID, r2.ID, r3.ID, r4.ID}) {
		t.Fatalf("releases %v", k.ReleaseIDs)
	}
	none := []int64{}
	want := []shipgate.GateFigure{
		{Kind: "analysis", Name: "error-rate", Failed: 1, FailedReleases: []int64{r2.ID}, FlakyReleases: none},
		{Kind: "checklist", Name: "load test", Passed: 2, Failed: 1, FailedReleases: []int64{r3.ID}, FlakyReleases: none},
		{Kind: "job", Name: "deploy", Passed: 1, Failed: 2, Flaky: 1, FlakinessRate: 0.5, FailedReleases: []int64{r1.ID, r2.ID}, FlakyReleases: []int64{r1.ID}},
		{Kind: "job", Name: "verify", Passed: 1, FailedReleases: none, FlakyReleases: none},
	}
	if !reflect.DeepEqual(k.Gates, want) {
		t.Errorf("gates\n got %+v\nwant %+v", k.Gates, want)
	}
	// deploy 30 s (run 1), 10 s (run 2), 0 s (release 2); verify 0 s
	if q := k.JobQueue; q.Count != 4 || q.P50 != 0 || q.P90 != 30 || q.Mean != 10 {
		t.Errorf("job queue %+v", q)
	}
	// started as soon as queued: release 1 twice, release 2 once
	if q := k.ReleaseQueue; q.Count != 3 || q.P90 != 0 || !reflect.DeepEqual(q.Releases, []int64{r1.ID, r2.ID}) {
		t.Errorf("release queue %+v", q)
	}
	c := k.Canaries
	if c.Count != 1 || c.Aborted != 1 || c.AbortRate != 1 || c.Duration.Mean != 240 ||
		!reflect.DeepEqual(c.AbortReasons, []shipgate.AbortReason{{Cause: "metric error-rate", Count: 1, Releases: []int64{r2.ID}}}) {
		t.Errorf("canaries %+v", c)
	}
	wantJudge := []shipgate.JudgeCount{
		{Metric: "error-rate", Judge: "threshold", Verdict: "failed", Count: 1, Releases: []int64{r2.ID}},
		{Metric: "error-rate", Judge: "threshold", Verdict: "successful", Count: 1, Releases: []int64{r2.ID}},
	}
	if !reflect.DeepEqual(k.Judge, wantJudge) {
		t.Errorf("judge %+v", k.Judge)
	}
	if w := k.Rework; w.Rollbacks != 0 || w.Hotfixes != 1 || w.Rate != 0.25 || !reflect.DeepEqual(w.HotfixReleases, []int64{r4.ID}) {
		t.Errorf("rework %+v", k.Rework)
	}

	// The window and the filters narrow what is read.
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		for _, f := range []shipgate.KPIFilter{
			{Since: clock.Now().Add(time.Second), Until: clock.Now().Add(time.Hour)},
			{Service: "api", Since: start, Until: clock.Now().Add(time.Second)},
			{Environment: "production", Since: start, Until: clock.Now().Add(time.Second)},
			{Team: "other-team", Since: start, Until: clock.Now().Add(time.Second)},
		} {
			h, err := tx.KPIHistory(ctx, f)
			if err != nil {
				return err
			}
			if len(h.Releases)+len(h.Outcomes)+len(h.JobWaits)+len(h.ReleaseWaits)+len(h.Rollouts)+len(h.Decisions) != 0 {
				t.Errorf("%+v: read %+v", f, h)
			}
		}
		return nil
	})
}

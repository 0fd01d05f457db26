package sqlstore_test

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestRolloutHistory runs on both engines: every stored report becomes a
// point; late reports add none; decisions are all kept; the history stays
// within MaxRolloutPoints while keeping every point that marks a change.
func TestRolloutHistory(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			db, _ := newStore(t, engine)
			a := claimedDeploy(t, db)
			historyOf := func(points int) *shipgate.RolloutHistory {
				t.Helper()
				var h *shipgate.RolloutHistory
				if err := db.View(ctx, func(tx *sqlstore.Tx) error {
					var err error
					h, err = tx.RolloutHistory(ctx, a.JobID, a.Key.Attempt, points)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return h
			}
			history := func() *shipgate.RolloutHistory { t.Helper(); return historyOf(0) }
			decided := func(n int) shipgate.AnalysisDecision {
				return shipgate.AnalysisDecision{At: time.Date(2026, 3, 2, 10, 0, n, 0, time.UTC), Step: 1, Judge: "threshold", Metric: "m", Phase: shipgate.AnalysisSuccessful, Summary: "fine"}
			}
			// The first report, then one with a decision and e-values.
			s := canary(1, shipgate.RolloutProgressing, 1, 10)
			s.Traffic = []shipgate.VersionTraffic{{Version: "1.0", Role: "stable", Requests: 90, Errors: 1, Slow: 3}, {Version: "2.0", Role: "canary", Requests: 10, Slow: 1}}
			if _, _, err := putRollout(db, a, s); err != nil {
				t.Fatal(err)
			}
			s = canary(2, shipgate.RolloutProgressing, 1, 10)
			s.Decisions = []shipgate.AnalysisDecision{decided(2)}
			s.Progress = []shipgate.AnalysisProgress{{Step: 1, Judge: "sequential", Metric: "errors+latency", E: map[string]float64{"errors": 2.5}, Threshold: map[string]float64{"errors": 100}}}
			if _, _, err := putRollout(db, a, s); err != nil {
				t.Fatal(err)
			}
			// A late report is not a point.
			if _, fresh, err := putRollout(db, a, canary(1, shipgate.RolloutProgressing, 1, 10)); err != nil || fresh {
				t.Fatalf("late report: %v %v", fresh, err)
			}
			h := history()
			if len(h.Points) != 2 || !h.Points[0].Mark || !h.Points[1].Mark || h.Points[0].Traffic[0].Slow != 3 || h.Points[1].Progress[0].E["errors"] != 2.5 {
				t.Fatalf("history: %+v", h)
			}
			if len(h.Decisions) != 1 || h.Decisions[0].Metric != "m" || h.Job != "deploy" {
				t.Fatalf("decisions: %+v", h.Decisions)
			}
			// Many more reports in one transaction (as a long rollout would
			// send them one a second): more decisions than the status keeps,
			// weight changes every 100 reports.
			n := shipgate.MaxRolloutPoints + 600
			if err := db.Update(ctx, func(tx *sqlstore.Tx) error {
				for i := 3; i <= n; i++ {
					s := canary(int64(i), shipgate.RolloutProgressing, 1, 10+i/100)
					if i%50 == 0 {
						s.Decisions = []shipgate.AnalysisDecision{decided(i)}
					}
					if _, _, err := tx.PutRollout(ctx, a.JobID, a.Key.Attempt, s); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			h = history()
			if len(h.Points) > shipgate.MaxRolloutPoints || len(h.Points) < shipgate.MaxRolloutPoints/2 {
				t.Fatalf("%d points kept of %d reports; the bound is %d", len(h.Points), n, shipgate.MaxRolloutPoints)
			}
			if h.Points[0].Seq != 1 || h.Points[len(h.Points)-1].Seq != int64(n) {
				t.Fatalf("the first and last reports are not kept: %d … %d", h.Points[0].Seq, h.Points[len(h.Points)-1].Seq)
			}
			// Every weight change is still there, and the newest reports
			// keep full resolution.
			weights := map[int]bool{}
			for _, p := range h.Points {
				weights[p.Weight] = true
			}
			for w := 10; w <= 10+n/100; w++ {
				if !weights[w] {
					t.Errorf("the change to weight %d was thinned away", w)
				}
			}
			tail := h.Points[len(h.Points)-100:]
			for i, p := range tail {
				if p.Seq != int64(n-99+i) {
					t.Fatalf("the latest reports are thinned: %d at %d", p.Seq, i)
				}
			}
			if want := 1 + n/50; len(h.Decisions) != want {
				t.Fatalf("%d decisions kept, want every one of %d (the status keeps only %d)", len(h.Decisions), want, sqlstore.MaxRolloutDecisions)
			}
			// A few hundred points for a chart: evenly spread, the ends and
			// every marked point kept, every decision still there.
			marked := 0
			for _, p := range h.Points {
				if p.Mark {
					marked++
				}
			}
			few := historyOf(300)
			if len(few.Points) > 300+marked || len(few.Points) < 300 || few.Points[0].Seq != 1 || few.Points[len(few.Points)-1].Seq != int64(n) {
				t.Fatalf("300 points asked: %d returned (%d marked), from %d to %d", len(few.Points), marked, few.Points[0].Seq, few.Points[len(few.Points)-1].Seq)
			}
			fewMarked := 0
			for _, p := range few.Points {
				if p.Mark {
					fewMarked++
				}
			}
			if fewMarked != marked || len(few.Decisions) != len(h.Decisions) {
				t.Fatalf("thinned for a chart: %d of %d marked points, %d of %d decisions", fewMarked, marked, len(few.Decisions), len(h.Decisions))
			}
		})
	}
}

package sqlstore_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/dora"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

func TestDORAHistory(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testDORAHistory(t, engine)
		})
	}
}

func createDORA(db *sqlstore.DB, nr sqlstore.NewRelease) (*shipgate.Release, error) {
	var r *shipgate.Release
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		nr.Service, nr.Artifact, nr.CreatedBy = "web", testutil.Artifact(nr.Version), "carol"
		var err error
		if r, err = reconcile.CreateRelease(ctx, tx, nr); err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r.ID)
		return err
	})
	return r, err
}

func testDORAHistory(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("health", 0))
	start := clock.Now()
	commit := start.Add(-3 * time.Hour)
	v1, err := createDORA(db, sqlstore.NewRelease{Environment: "production", Version: "1.0", Source: shipgate.Source{Commit: "abc", CommittedAt: &commit}})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(10 * time.Minute)
	runTo(t, db, v1.ID)
	clock.Add(time.Hour)
	v2, _ := createDORA(db, sqlstore.NewRelease{Environment: "production", Version: "2.0"})
	clock.Add(time.Minute)
	runTo(t, db, v2.ID, "health") // fails, its policy rollback fires at once
	failedAt := clock.Now()
	rb := rollbackOf(t, db, v2.ID)
	clock.Add(5 * time.Minute)
	runTo(t, db, rb.RollbackRelease)
	rolledBackAt := clock.Now()

	// A hotfix must name a deployed release of its own service and
	// environment; refused ones change nothing.
	staging, _ := createDORA(db, sqlstore.NewRelease{Environment: "staging", Version: "1.0"})
	for _, c := range []struct {
		nr   sqlstore.NewRelease
		code string
	}{
		{sqlstore.NewRelease{Environment: "production", Version: "2.1", Fixes: v2.ID}, shipgate.EINVALID},
		{sqlstore.NewRelease{Environment: "production", Version: "2.1", Hotfix: true, Fixes: 9999}, shipgate.EINVALID},
		{sqlstore.NewRelease{Environment: "production", Version: "2.1", Hotfix: true, Fixes: staging.ID}, shipgate.EINVALID},
		{sqlstore.NewRelease{Environment: "staging", Version: "2.1", Hotfix: true, Fixes: staging.ID}, shipgate.EFAILEDPRECONDITION},
	} {
		before := countAllReleases(t, db)
		if _, err := createDORA(db, c.nr); shipgate.ErrorCode(err) != c.code {
			t.Fatalf("%+v: got %v, want %s", c.nr, err, c.code)
		}
		if countAllReleases(t, db) != before {
			t.Fatalf("%+v: a refused hotfix created a release", c.nr)
		}
	}
	clock.Add(time.Hour)
	fix, err := createDORA(db, sqlstore.NewRelease{Environment: "production", Version: "2.1", Hotfix: true, Fixes: v2.ID})
	if err != nil || fix.HotfixOf != v2.ID {
		t.Fatalf("hotfix: %v %+v", err, fix)
	}
	clock.Add(time.Minute)
	runTo(t, db, fix.ID)
	// Without --fixes a hotfix fixes the release deployed there now.
	fix2, err := createDORA(db, sqlstore.NewRelease{Environment: "production", Version: "2.2", Hotfix: true})
	if err != nil || fix2.HotfixOf != fix.ID {
		t.Fatalf("default hotfix target: %v, fixes %d, want %d", err, fix2.HotfixOf, fix.ID)
	}

	var h dora.History
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		h, err = tx.DORAHistory(ctx, start, clock.Now().Add(time.Second), sqlstore.DORAFilter{Environment: "production"})
		return err
	})
	if len(h.Releases) != 5 {
		t.Fatalf("production releases: %d", len(h.Releases))
	}
	byID := map[int64]dora.Release{}
	for _, r := range h.Releases {
		byID[r.ID] = r
	}
	r1, r2, rr, rf := byID[v1.ID], byID[v2.ID], byID[rb.RollbackRelease], byID[fix.ID]
	if !r1.CommittedAt.Equal(commit) || !r1.CreatedAt.Equal(start) || !r1.ApprovedAt.Equal(start) || !r1.StartedAt.Equal(start) || !r1.SucceededAt.Equal(start.Add(10*time.Minute)) {
		t.Fatalf("v1 times %+v", r1)
	}
	if r2.SucceededAt != nil || !r2.FailedAt.Equal(failedAt) || r2.State != string(shipgate.StateRolledBack) {
		t.Fatalf("v2 %+v", r2)
	}
	if rr.Kind != "rollback" || rr.RollbackOf != v2.ID || !rr.SucceededAt.Equal(rolledBackAt) {
		t.Fatalf("rollback release %+v", rr)
	}
	if rf.HotfixOf != v2.ID {
		t.Fatalf("hotfix release %+v", rf)
	}
	if !slices.ContainsFunc(h.Signals, func(s dora.Signal) bool {
		return s.Kind == dora.SignalRollback && s.Release == v2.ID && s.At.Equal(failedAt) && s.By == shipgate.TriggeredByPolicy
	}) {
		t.Fatalf("no rollback signal for v2: %+v", h.Signals)
	}
	rep := dora.Compute(h, dora.Query{Since: start, Until: clock.Now().Add(time.Second)})
	m := rep.Totals
	// v1, v2 (rolled back: it failed after its deploy job ran), the rollback
	// and the hotfix; fix2 has not run, but creating it says the first
	// hotfix is degraded: a failure not yet recovered.
	if m.Deployments != 4 || m.FailedDeployments != 2 || m.Rework != 2 || m.Recovered != 1 || m.Unrecovered != 1 || *m.RecoveryTime.P50 != 5*60 || *m.LeadTime.CommitToSucceeded.P50 != (3*time.Hour+10*time.Minute).Seconds() {
		t.Fatalf("report %+v", m)
	}
}

// TestDORABackfill runs migration 0028's backfill statement over a release
// stored before it (as raw rows are: no fact columns) and checks the
// history reads the facts from its content.
func TestDORABackfill(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			db, _ := newStore(t, engine)
			testutil.MustApply(t, db, rollbackSvc("health", 0))
			commit := time.Date(2026, 3, 1, 8, 30, 0, 123000, time.UTC)
			id := testutil.InsertRawRelease(t, db, "web", "production", func(c *shipgate.ReleaseContent) {
				c.Source, c.Owner, c.Flags, c.HotfixOf = shipgate.Source{Commit: "abc", CommittedAt: &commit}, "payments", []string{"a", "b"}, 7
			})
			plain := testutil.InsertRawRelease(t, db, "web", "production", nil)
			src, err := os.ReadFile(filepath.Join("migrations", engine, "0028_dora.sql"))
			if err != nil {
				t.Fatal(err)
			}
			i := strings.Index(string(src), "UPDATE releases")
			stmt := string(src)[i : i+strings.Index(string(src)[i:], ";")]
			if _, err := testutil.RawDB(t, db).Exec(stmt); err != nil {
				t.Fatalf("backfill: %v", err)
			}
			var h dora.History
			testutil.View(t, db, func(tx *sqlstore.Tx) error {
				h, err = tx.DORAHistory(ctx, commit, commit.Add(48*time.Hour), sqlstore.DORAFilter{})
				return err
			})
			byID := map[int64]dora.Release{}
			for _, r := range h.Releases {
				byID[r.ID] = r
			}
			r, p := byID[id], byID[plain]
			if r.CommittedAt == nil || !r.CommittedAt.Equal(commit) || r.Team != "payments" || !slices.Equal(r.Flags, []string{"a", "b"}) || r.HotfixOf != 7 {
				t.Fatalf("backfilled %+v", r)
			}
			if p.CommittedAt != nil || p.Team != "" || p.Flags != nil || p.HotfixOf != 0 {
				t.Fatalf("a release without the facts %+v", p)
			}
		})
	}
}

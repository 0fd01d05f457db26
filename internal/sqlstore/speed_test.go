package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// testStatementsPreparedOnce: a query run again in later transactions is
// not parsed again (SQLite; PostgreSQL's driver prepares every query
// itself), a failed write transaction still prepares what it ran without
// holding up the next one, and a prepared statement reads what is
// committed now, not what was there when it was prepared.
func testStatementsPreparedOnce(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	r, err := newRelease(db, "staging", "1", "carol")
	if err != nil {
		t.Fatal(err)
	}
	state := func() shipgate.ReleaseState {
		var s shipgate.ReleaseState
		if err := db.View(ctx, func(tx *sqlstore.Tx) error {
			got, err := tx.FindRelease(ctx, r.ID)
			if err == nil {
				s = got.State
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	state() // the first run may parse it
	before := db.ParsedStatements()
	for i := 0; i < 20; i++ {
		state()
	}
	if n := db.ParsedStatements() - before; n != 0 {
		t.Fatalf("reading a release 20 times parsed %d statements, want 0", n)
	}

	// A write transaction that fails, and the next one.
	refused := errors.New("refused")
	for i := 0; i < 3; i++ {
		err := db.Update(ctx, func(tx *sqlstore.Tx) error {
			if _, err := tx.FindJob(ctx, -1); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
				t.Fatalf("find job -1: %v", err)
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("update: %v", err)
		}
	}
	before = db.ParsedStatements()
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.FindJob(ctx, -1)
		if shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Fatalf("find job -1: %v", err)
		}
		return nil
	})
	if n := db.ParsedStatements() - before; n != 0 {
		t.Fatalf("a statement run in failed transactions was parsed again %d times", n)
	}
	if engine == "postgres" && db.ParsedStatements() != 0 {
		t.Fatalf("PostgreSQL counts %d parsed statements, want 0", db.ParsedStatements())
	}

	// Prepared, the read still sees the newest committed state.
	if got := state(); got != shipgate.StateRunning {
		t.Fatalf("state %s, want running", got)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CancelRelease(ctx, tx, "carol", r.ID, "")
		return err
	})
	if got := state(); got != shipgate.StateCancelled {
		t.Fatalf("state after cancel %s, want cancelled", got)
	}
}

// testFinishDecodesReleaseOnce: a job's finish, which reads its release
// for the report, for the reconcile of the release and to see whether it
// ended, decodes the release's frozen content once; what it reads after
// the finish changed the release is still current.
func testFinishDecodesReleaseOnce(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, "apiVersion: shipgate/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  environments: [{name: staging}]\n  pipeline:\n    jobs:\n"+
		"      - {name: a, steps: [{run: 'true'}]}\n      - {name: b, steps: [{run: 'true'}]}\n")
	r, err := newRelease(db, "staging", "1", "carol")
	if err != nil {
		t.Fatal(err)
	}
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	runner := shipgate.RunnerInfo{Name: "r1"}
	for i, want := range []shipgate.ReleaseState{shipgate.StateRunning, shipgate.StateSucceeded} {
		a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: runner})
		if err != nil || !ok {
			t.Fatalf("claim %d: %v %v", i, ok, err)
		}
		before := db.DecodedReleases()
		if err := d.Finish(ctx, runner.Name, a.Key, shipgate.JobOutcome{Succeeded: true}); err != nil {
			t.Fatal(err)
		}
		if n := db.DecodedReleases() - before; n != 1 {
			t.Errorf("finish %d decoded the release %d times, want 1", i, n)
		}
		if got := find(db, r.ID); got.State != want {
			t.Fatalf("after finish %d the release is %s, want %s", i, got.State, want)
		}
	}
	verify(t, db)
}

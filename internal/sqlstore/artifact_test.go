package sqlstore_test

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// testArtifactRefs: gc keeps the artifacts of releases that are not final
// or that succeeded, and lets go of those only failed, rejected or
// cancelled releases pin, deciding from what the store reports.
func testArtifactRefs(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	ok, _ := newRelease(db, "staging", "1.0", "carol")
	finishRun(t, db, ok.ID, true)
	failed, _ := newRelease(db, "staging", "2.0", "carol")
	finishRun(t, db, failed.ID, false)
	cancelled, _ := newRelease(db, "staging", "3.0", "carol")
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CancelRelease(ctx, tx, "carol", cancelled.ID, "")
		return err
	})
	running, _ := newRelease(db, "staging", "4.0", "carol")
	rejected, _ := newRelease(db, "production", "1.0", "carol")
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, _, err := reconcile.Decide(ctx, tx, alice, rejected.ID, shipgate.DecisionReject, rejected.Digest, "no")
		return err
	})
	pending, _ := newRelease(db, "production", "1.0", "carol")

	var refs []shipgate.ArtifactRef
	db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		refs, err = tx.ArtifactRefs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	want := []shipgate.ArtifactRef{
		{ReleaseID: ok.ID, SHA256: testutil.Artifact("1.0").SHA256, State: shipgate.StateSucceeded, Succeeded: true},
		{ReleaseID: failed.ID, SHA256: testutil.Artifact("2.0").SHA256, State: shipgate.StateFailed},
		{ReleaseID: cancelled.ID, SHA256: testutil.Artifact("3.0").SHA256, State: shipgate.StateCancelled},
		{ReleaseID: running.ID, SHA256: testutil.Artifact("4.0").SHA256, State: shipgate.StateRunning},
		{ReleaseID: rejected.ID, SHA256: testutil.Artifact("1.0").SHA256, State: shipgate.StateRejected},
		{ReleaseID: pending.ID, SHA256: testutil.Artifact("1.0").SHA256, State: shipgate.StatePendingApproval},
	}
	if len(refs) != len(want) {
		t.Fatalf("refs = %+v", refs)
	}
	for i := range want {
		if refs[i] != want[i] {
			t.Errorf("ref %d = %+v, want %+v", i, refs[i], want[i])
		}
	}
	var stored []shipgate.StoredArtifact
	for _, v := range []string{"1.0", "2.0", "3.0", "4.0", "orphan"} {
		stored = append(stored, shipgate.StoredArtifact{SHA256: testutil.Artifact(v).SHA256, StoredAt: clock.Now()})
	}
	plan := shipgate.PlanArtifactGC(stored, refs, clock.Now().Add(2*time.Hour), shipgate.DefaultArtifactGrace)
	keep := map[string]bool{}
	for i, a := range plan {
		keep[[]string{"1.0", "2.0", "3.0", "4.0", "orphan"}[i]] = a.Keep
	}
	if !keep["1.0"] || keep["2.0"] || keep["3.0"] || !keep["4.0"] || keep["orphan"] {
		t.Fatalf("keep = %v", keep)
	}
}

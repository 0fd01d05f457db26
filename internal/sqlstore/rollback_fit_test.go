package sqlstore_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// twoServices is web's file of 1.0: two service jobs, web and api.
const twoServices = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: staging
    - name: production
  pipeline:
    jobs:
      - name: web
        service: {exec: ["./app", "${PORT}"], listen: 127.0.0.1:19101}
      - name: api
        service: {exec: ["./api", "${PORT}"], listen: 127.0.0.1:19102}
`

// oneServiceBlueGreen is web's file of 2.0: api is gone, and rollbacks
// move traffic blue-green through api's old address, which fits 2.0's
// pipeline but not 1.0's.
const oneServiceBlueGreen = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: staging
    - name: production
      rollback_strategy: {blue_green: {preview: "127.0.0.1:19102"}}
  pipeline:
    jobs:
      - name: web
        service: {exec: ["./app", "${PORT}"], listen: 127.0.0.1:19101}
`

// A rollback_strategy is checked at apply against the pipeline of the day,
// but a rollback restores an older pipeline: when the strategy does not
// fit it, the rollback moves all traffic at once and says why, rather
// than freeze a pipeline that cannot run (the preview on api's address).
func testRollbackStrategyDoesNotFit(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, twoServices)
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	testutil.MustApply(t, db, oneServiceBlueGreen)
	v2, _ := newRelease(db, "production", "2.0", "carol")
	runTo(t, db, v2.ID)
	var rr *shipgate.Release
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		rr, err = reconcile.CreateRollbackRelease(ctx, tx, sqlstore.NewRollback{Of: find(db, v2.ID), Target: find(db, v1.ID), TriggeredBy: shipgate.TriggeredByUser, Actor: "carol"})
		return err
	})
	rr = find(db, rr.ID)
	for _, j := range rr.Pipeline.Jobs {
		if j.Strategy != nil {
			t.Fatalf("job %s of the rollback release has strategy %s, want all traffic at once", j.Name, shipgate.StrategySummary(j.Strategy))
		}
	}
	// The frozen pipeline passes the checks a service file gets.
	spec := mustParse(t, twoServices)
	spec.Pipeline = rr.Pipeline
	if err := spec.Validate(); err != nil {
		t.Fatalf("the rollback release's pipeline is refused: %v", err)
	}
	wantNote := "rollback_strategy does not fit release " + itoa(v1.ID) + "'s pipeline: "
	note := rr.RollbackStrategyNote
	if !strings.HasPrefix(note, wantNote) || !strings.HasSuffix(note, "; all traffic at once") || !strings.Contains(note, `"127.0.0.1:19102"`) {
		t.Fatalf("rollback release's note %q", note)
	}
	created := eventDetails(t, db, rr.ID, shipgate.ActionReleaseCreated)
	if created["rollback_strategy"] != note || created["rollout"] != "all traffic at once" {
		t.Fatalf("release.created says rollout %v, rollback_strategy %v", created["rollout"], created["rollback_strategy"])
	}
	if rr.Digest != rr.ReleaseContent.Digest() {
		t.Fatal("the digest does not cover the note")
	}
	// Where it fits (2.0's own pipeline), the strategy is used.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, _, err := reconcile.Release(ctx, tx, rr.ID); return err })
	runTo(t, db, rr.ID)
	v3, _ := newRelease(db, "production", "3.0", "carol")
	runTo(t, db, v3.ID)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		rr, err = reconcile.CreateRollbackRelease(ctx, tx, sqlstore.NewRollback{Of: find(db, v3.ID), Target: find(db, v2.ID), TriggeredBy: shipgate.TriggeredByUser, Actor: "carol"})
		return err
	})
	if j, _ := find(db, rr.ID).Pipeline.Job("web"); j.Strategy == nil || j.Strategy.BlueGreen == nil || find(db, rr.ID).RollbackStrategyNote != "" {
		t.Fatalf("a fitting rollback_strategy was not used: %+v", j.Strategy)
	}
	verify(t, db)
}

// A rollback restores only a release that succeeded in the same service
// and environment: a version that succeeded elsewhere only is refused up
// front, whoever asks, and nothing is created.
func testRollbackOnlyWhatSucceededHere(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, rollbackSvc("pipeline", 0))
	stg, _ := newRelease(db, "staging", "5.0", "carol")
	runTo(t, db, stg.ID)
	v1, _ := newRelease(db, "production", "1.0", "carol")
	runTo(t, db, v1.ID)
	before, _ := listAll(db)
	var target *shipgate.Release
	var none string
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		target, none, err = reconcile.RollbackTarget(ctx, tx, find(db, v1.ID), shipgate.RollbackVersion, "5.0")
		return err
	})
	if target != nil || !strings.Contains(none, "5.0 never succeeded in production; deploy it with `shipgate release create`") {
		t.Fatalf("target %v, none %q", target, none)
	}
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CreateRollbackRelease(ctx, tx, sqlstore.NewRollback{Of: find(db, v1.ID), Target: find(db, stg.ID), TriggeredBy: shipgate.TriggeredByUser, Actor: "carol"})
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "5.0 never succeeded in production; deploy it with `shipgate release create`") {
		t.Fatalf("rollback to staging's 5.0: %v", err)
	}
	if after, _ := listAll(db); len(after) != len(before) {
		t.Fatalf("a refused rollback created a release: %d → %d", len(before), len(after))
	}
	verify(t, db)
}

// The policy's artifact check runs inside the reconcile write transaction,
// so it never reads the bytes (a 1.9 GB artifact held every writer for
// seconds): bytes changed with their size kept pass it, and are caught
// when served — the store hashes them on every read — so the rollback job
// fails visibly, as rollback.failed.
func testRollbackArtifactCheckedCheaply(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	store, err := artifactstore.Open(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	d := &reconcile.Dispatcher{DB: db, Artifacts: store, LeaseTTL: time.Hour, Work: &reconcile.Signal{}}
	db.ArtifactCheck = d.CheckArtifact
	testutil.MustApply(t, db, rollbackSvc("pipeline", 0))
	v1 := storedRelease(t, db, store, "1.0")
	runTo(t, db, v1.ID)
	v2 := storedRelease(t, db, store, "2.0")
	blob := filepath.Join(store.Dir(), "sha256", v1.Artifact.SHA256)
	os.Chmod(blob, 0o600)
	if err := os.WriteFile(blob, []byte("ARTIFACT 1.0"), 0o600); err != nil { // "artifact 1.0", same size
		t.Fatal(err)
	}
	runTo(t, db, v2.ID, "deploy")
	rb := rollbackOf(t, db, v2.ID)
	if rb.State != shipgate.RollbackFired || rb.RollbackRelease == 0 {
		t.Fatalf("the in-transaction check read the bytes: rollback %+v", rb)
	}
	a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	if err != nil || !ok || a.Key.ReleaseID != rb.RollbackRelease {
		t.Fatalf("claim the rollback's job: %+v %v %v", a.Key, ok, err)
	}
	if _, err := d.Artifact(ctx, "r", a.Key); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "no longer has that digest") {
		t.Fatalf("serving damaged bytes: %v", err)
	}
	if err := d.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Reason: "download: " + shipgate.ErrorMessage(err)}); err != nil {
		t.Fatal(err)
	}
	if rb := rollbackOf(t, db, v2.ID); rb.State != shipgate.RollbackFailed {
		t.Fatalf("rollback %s %q", rb.State, rb.Reason)
	}
	if !strings.Contains(actionsOf(db, v2.ID), shipgate.ActionRollbackFailed) {
		t.Fatalf("no rollback.failed: %s", actionsOf(db, v2.ID))
	}
	verify(t, db)
}

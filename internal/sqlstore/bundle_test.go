package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/bundle"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// testBundle covers what an evidence bundle reads on each engine: the
// rollbacks of a release, the earliest checkpoint covering an event, and a
// bundle of a rolled-back release, built and verified.
func testBundle(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, inputsService)
	seed := make([]byte, shipgate.AuditSigningKeySize)
	seed[0] = 3
	key, _ := shipgate.NewAuditSigner(seed)
	keyID := key.PublicKey().ID()

	v1, err := createWithInputs(db, "production", "1.0", map[string]string{"region": "eu"})
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := db.CheckpointUnpublished(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	reconcileAll(t, db)
	if got := runTo(t, db, v1.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("v1 %s", got.State)
	}
	second, _, err := db.CheckpointUnpublished(ctx, key)
	if err != nil || second.Seq <= first.Seq {
		t.Fatalf("second checkpoint %+v after %+v: %v", second, first, err)
	}
	v2, err := createWithInputs(db, "production", "2.0", map[string]string{"region": "eu"})
	if err != nil {
		t.Fatal(err)
	}
	reconcileAll(t, db)
	if got := runTo(t, db, v2.ID, "health"); got.State != shipgate.StateFailed {
		t.Fatalf("v2 %s", got.State)
	}
	rb := rollbackOf(t, db, v2.ID)
	if rb.RollbackRelease == 0 {
		t.Fatalf("rollback not fired: %+v", rb)
	}

	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if ids, err := tx.RollbacksOf(ctx, v2.ID); err != nil || len(ids) != 1 || ids[0] != rb.RollbackRelease {
			t.Errorf("rollbacks of v2: %v %v, want [%d]", ids, err, rb.RollbackRelease)
		}
		if ids, err := tx.RollbacksOf(ctx, v1.ID); err != nil || len(ids) != 0 {
			t.Errorf("rollbacks of v1: %v %v", ids, err)
		}
		for _, tc := range []struct {
			seq  int64
			want int64 // 0: none
		}{{1, first.Seq}, {first.Seq, first.Seq}, {first.Seq + 1, second.Seq}, {second.Seq, second.Seq}, {second.Seq + 1, 0}} {
			cp, ok, err := tx.CheckpointCovering(ctx, keyID, tc.seq)
			if err != nil || ok != (tc.want != 0) || (ok && (cp.Seq != tc.want || shipgate.VerifyCheckpoint(&cp, []shipgate.AuditPublicKey{key.PublicKey()}) != nil)) {
				t.Errorf("covering seq %d: %+v %v %v, want seq %d", tc.seq, cp, ok, err, tc.want)
			}
		}
		if _, ok, err := tx.CheckpointCovering(ctx, "0000000000000000", 1); ok || err != nil {
			t.Errorf("another key's checkpoint: %v %v", ok, err)
		}
		return nil
	})

	// v1's events are covered by a stored checkpoint: it is reused, and the
	// other releases' events between are links.
	b1, err := bundle.Build(ctx, db, key, v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := bundle.Verify(b1, []shipgate.AuditPublicKey{key.PublicKey()})
	if err != nil || !r1.Covered || r1.CheckpointSeq != second.Seq || r1.ReleaseID != v1.ID {
		t.Fatalf("bundle of v1: %+v %v", r1, err)
	}
	// More decisions than the store lists at once all come along.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		for i := range 1001 {
			d := &shipgate.PolicyDecision{Point: shipgate.PolicyPointPromote, ReleaseID: v1.ID, Service: "web", Environment: "production", Actor: "system",
				Policies: []string{"p"}, BundleDigest: "sha256:b", InputDigest: fmt.Sprintf("sha256:%d", i), Input: "{}",
				PolicyResult: shipgate.PolicyResult{Result: shipgate.PolicyAllow}, ResultDigest: "sha256:r", At: v1.CreatedAt}
			if err := tx.RecordPolicyDecision(ctx, d, []byte("{}")); err != nil {
				return err
			}
		}
		return nil
	})
	b1, err = bundle.Build(ctx, db, key, v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r1, err = bundle.Verify(b1, []shipgate.AuditPublicKey{key.PublicKey()}); err != nil || r1.PolicyDecisions != 1001 || r1.Policy[shipgate.PolicyAllow] != 1001 || !r1.Covered {
		t.Fatalf("bundle of v1 with 1001 decisions: %d decisions, covered %v, %v", r1.PolicyDecisions, r1.Covered, err)
	}

	// v2 was rolled back: the rollback release and its events come along,
	// and the head is signed because no checkpoint covers them yet.
	b2, err := bundle.Build(ctx, db, key, v2.ID)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := bundle.Verify(b2, []shipgate.AuditPublicKey{key.PublicKey()})
	if err != nil || !r2.Covered || len(r2.Rollbacks) != 1 || r2.Rollbacks[0] != rb.RollbackRelease || r2.State != string(shipgate.StateFailed) || r2.CheckpointSeq <= second.Seq {
		t.Fatalf("bundle of v2: %+v %v", r2, err)
	}
	if !strings.Contains(r2.Text(), "rolled back by release") {
		t.Errorf("text:\n%s", r2.Text())
	}
	if _, err := bundle.Build(ctx, db, key, 999); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Errorf("no such release: %v", err)
	}
}

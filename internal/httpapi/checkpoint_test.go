package httpapi_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

func TestCheckpointRoutes(t *testing.T) {
	f := newFixture(t)
	viewer := f.client("viewer")
	if _, err := viewer.AuditCheckpoint(ctx); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "no audit signing key") {
		t.Fatalf("without a key: %v", err)
	}
	seed := make([]byte, shipgate.AuditSigningKeySize)
	seed[0] = 7
	f.h.AuditSigner, _ = shipgate.NewAuditSigner(seed)

	pk, err := viewer.AuditPublicKey(ctx)
	if err != nil || pk.PublicKey != f.h.AuditSigner.PublicKey().String() || pk.KeyID != f.h.AuditSigner.PublicKey().ID() || !strings.Contains(pk.PEM, "BEGIN PUBLIC KEY") {
		t.Fatalf("public key %+v %v", pk, err)
	}
	key, err := shipgate.ParseAuditPublicKey(pk.PEM)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := viewer.AuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := shipgate.VerifyCheckpoint(cp, []shipgate.AuditPublicKey{key}); err != nil || cp.Seq != f.head(t) {
		t.Fatalf("checkpoint %+v (head %d): %v", cp, f.head(t), err)
	}
	// Asking again without the head moving writes nothing new.
	again, err := viewer.AuditCheckpoint(ctx)
	if err != nil || *again != *cp {
		t.Fatalf("again: %+v %v", again, err)
	}
	r, err := viewer.VerifyAuditAnchored(ctx, []shipgate.AuditPublicKey{key}, []shipgate.AuditCheckpoint{*cp})
	if err != nil || r.Checkpoints != 1 || r.HeadSeq != cp.Seq || r.HeadHash != cp.Hash {
		t.Fatalf("verify %+v %v", r, err)
	}
	// Anonymous callers get nothing.
	if status, _ := f.raw(t, "POST", "/api/v1/audit/checkpoints", "", nil); status != 401 {
		t.Fatalf("anonymous checkpoint: %d", status)
	}
}

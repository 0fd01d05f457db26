package sqlstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// The secret key's id: the first server records it, another key is
// refused, a replacement is a compare-and-set on the recorded id and is
// audited. A database created before keys were recorded, whose secret
// inputs this key cannot open, is refused too, rather than taking the
// first key that comes (second hostile review).
func testSharedKey(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	boxOf := func(b byte) *shipgate.SecretBox {
		box, err := shipgate.NewSecretBox([]byte(strings.Repeat(string(b), shipgate.SecretKeySize)))
		if err != nil {
			t.Fatal(err)
		}
		return box
	}
	a, b := boxOf('a'), boxOf('b')
	opens := func(box *shipgate.SecretBox) func(string, []byte) error {
		return func(name string, sealed []byte) error { _, err := box.Open(name, sealed); return err }
	}
	// A release sealed with a's key, in a database that recorded no key.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "1.0", Artifact: testutil.Artifact("1.0"),
			Inputs: map[string]string{"region": "eu"}, CreatedBy: "carol",
			Secrets: map[string]sqlstore.SealedSecret{"pw": {Sealed: a.Seal("pw", "hunter2"), Fingerprint: a.Fingerprint("pw", "hunter2")}}})
		return err
	})
	_, err := db.SharedKey(ctx, "secret", b.KeyID(), "b", "", opens(b))
	var km *sqlstore.KeyMismatchError
	if !errors.As(err, &km) || km.Theirs != sqlstore.NoKeyRecorded || !strings.Contains(err.Error(), `cannot open the secret inputs already in this database (release 1's "pw")`) {
		t.Fatalf("b's key on a's secrets: %v", err)
	}
	if replaced, err := db.SharedKey(ctx, "secret", a.KeyID(), "a", "", opens(a)); err != nil || replaced {
		t.Fatalf("a's key: %v %v", replaced, err)
	}
	if _, err := db.SharedKey(ctx, "secret", b.KeyID(), "b", "", opens(b)); !errors.As(err, &km) || km.Theirs != a.KeyID() {
		t.Fatalf("b's key once a's is recorded: %v", err)
	}
	if _, err := db.SharedKey(ctx, "secret", b.KeyID(), "b", "hmac-sha256:0000000000000000", opens(b)); !errors.As(err, &km) {
		t.Fatalf("replacing a key the database does not have: %v", err)
	}
	if replaced, err := db.SharedKey(ctx, "secret", b.KeyID(), "b", a.KeyID(), opens(b)); err != nil || !replaced {
		t.Fatalf("replacing a's key: %v %v", replaced, err)
	}
	if replaced, err := db.SharedKey(ctx, "secret", b.KeyID(), "b", a.KeyID(), opens(b)); err != nil || replaced {
		t.Fatalf("the flag left in place: %v %v", replaced, err)
	}
	if _, err := db.SharedKey(ctx, "secret", a.KeyID(), "a", a.KeyID(), opens(a)); !errors.As(err, &km) || km.Theirs != b.KeyID() {
		t.Fatalf("a's server with the same flag may not swap back: %v", err)
	}
	var replacedEvents int
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{})
		for _, e := range events {
			if e.Action == shipgate.ActionSharedKeyReplaced && e.Subject == shipgate.KeySubject("secret") {
				replacedEvents++
			}
		}
		return err
	})
	if replacedEvents != 1 {
		t.Fatalf("%d key.replaced events, want 1", replacedEvents)
	}
	verify(t, db)
}

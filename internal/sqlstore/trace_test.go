package sqlstore_test

import (
	"bytes"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

func TestTraceState(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testTraceState(t, engine)
		})
	}
}

func testTraceState(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, flagsYAML) // some audit history before tracing is on
	var head, cursor int64
	var secret []byte
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		if _, err := tx.TraceCursor(ctx); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
			t.Errorf("the cursor of a database that never traced: %v, want failed_precondition", err)
		}
		return nil
	})
	if err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		var err error
		if head, _, err = tx.AuditHead(ctx); err != nil {
			return err
		}
		secret, cursor, err = tx.TraceState(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if head == 0 || cursor != head {
		t.Fatalf("a new trace cursor starts at the audit head %d (history is not exported), got %d", head, cursor)
	}
	if len(secret) != 32 {
		t.Fatalf("secret of %d bytes, want 32", len(secret))
	}
	// The secret is created once: every later call (any server) reads it.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if ok, err := tx.AdvanceTraceCursor(ctx, head, head+5); err != nil || !ok {
			t.Errorf("advance from the head: moved %v, err %v", ok, err)
		}
		// An emitter that read from the old position (an old leader, late)
		// does not move it, nor does one going backwards.
		if ok, err := tx.AdvanceTraceCursor(ctx, head, head+2); err != nil || ok {
			t.Errorf("advance from a stale position: moved %v, err %v", ok, err)
		}
		if ok, err := tx.AdvanceTraceCursor(ctx, head+5, head+1); err != nil || ok {
			t.Errorf("advance backwards: moved %v, err %v", ok, err)
		}
		return nil
	})
	if err := db.View(ctx, func(tx *sqlstore.Tx) error {
		again, c, err := tx.TraceState(ctx)
		if err != nil {
			return err
		}
		if c2, err := tx.TraceCursor(ctx); err != nil || c2 != c {
			t.Errorf("TraceCursor = %d, %v; TraceState's cursor %d", c2, err, c)
		}
		if !bytes.Equal(again, secret) {
			t.Error("the trace secret changed between calls")
		}
		if c != head+5 {
			t.Errorf("cursor = %d, want %d: it never moves back", c, head+5)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

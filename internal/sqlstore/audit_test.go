package sqlstore_test

import (
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// EachAudit, which the audit stream reads through, gives the events
// ListAudit gives, honours the head a reader took first (UpToSeq) and its
// other bounds, and stops at the first error of its callback.
func testAuditEach(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	for i := 0; i < 3; i++ {
		newRelease(db, "staging", "8."+string(rune('0'+i)), "carol")
	}
	all := func(f shipgate.AuditFilter) (seqs []int64, events []shipgate.AuditEvent) {
		t.Helper()
		view(t, db, func(tx *sqlstore.Tx) error {
			return tx.EachAudit(ctx, f, func(e *shipgate.AuditEvent) error {
				seqs = append(seqs, e.Seq)
				c := *e
				c.Details = append([]byte(nil), e.Details...)
				events = append(events, c)
				return nil
			})
		})
		return seqs, events
	}
	var listed []shipgate.AuditEvent
	var head int64
	view(t, db, func(tx *sqlstore.Tx) error {
		var err error
		if head, _, err = tx.AuditHead(ctx); err != nil {
			return err
		}
		listed, err = tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
		return err
	})
	_, every := all(shipgate.AuditFilter{})
	if len(every) != len(listed) || int64(len(every)) != head || head < 6 {
		t.Fatalf("EachAudit gave %d events, ListAudit %d, head %d", len(every), len(listed), head)
	}
	for i := range every {
		if every[i].Hash != listed[i].Hash || string(every[i].Details) != string(listed[i].Details) || !every[i].At.Equal(listed[i].At) {
			t.Fatalf("event %d differs: %+v vs %+v", i, every[i], listed[i])
		}
	}
	// The reused event must not leak one row's details into the next.
	var v shipgate.AuditVerifier
	view(t, db, func(tx *sqlstore.Tx) error {
		return tx.EachAudit(ctx, shipgate.AuditFilter{}, v.Add)
	})
	if err := v.Finish(head, every[len(every)-1].Hash); err != nil {
		t.Fatalf("chain read through EachAudit does not verify: %v", err)
	}
	if seqs, _ := all(shipgate.AuditFilter{AfterSeq: 2, UpToSeq: 4}); len(seqs) != 2 || seqs[0] != 3 || seqs[1] != 4 {
		t.Fatalf("after 2 up to 4: %v", seqs)
	}
	if seqs, _ := all(shipgate.AuditFilter{AfterSeq: 1, Limit: 3}); len(seqs) != 3 || seqs[0] != 2 {
		t.Fatalf("after 1 limit 3: %v", seqs)
	}
	if seqs, _ := all(shipgate.AuditFilter{ReleaseID: 2}); len(seqs) == 0 {
		t.Fatal("no events of release 2")
	}
	stop := shipgate.Errorf(shipgate.EINTERNAL, "stop")
	n := 0
	err := db.View(ctx, func(tx *sqlstore.Tx) error {
		return tx.EachAudit(ctx, shipgate.AuditFilter{}, func(*shipgate.AuditEvent) error { n++; return stop })
	})
	if err != stop || n != 1 {
		t.Fatalf("callback error: got %v after %d events", err, n)
	}
}

func view(t *testing.T, db *sqlstore.DB, fn func(tx *sqlstore.Tx) error) {
	t.Helper()
	if err := db.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

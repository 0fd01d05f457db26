package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

func testSigner(t *testing.T, name string) *shipgate.AuditSigner {
	t.Helper()
	seed := sha256.Sum256([]byte(name))
	s, err := shipgate.NewAuditSigner(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkpoint(t *testing.T, db *sqlstore.DB, s *shipgate.AuditSigner) shipgate.AuditCheckpoint {
	t.Helper()
	cp, _, err := db.Checkpoint(ctx, s)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
}

// checkpointScenario is a production release approved by alice and bob,
// with 69 refusals between the approvals, and the checkpoints an auditor
// kept outside the database along the way.
type checkpointScenario struct {
	db         *sqlstore.DB
	signer     *shipgate.AuditSigner
	before     shipgate.AuditCheckpoint // before alice approves
	approved   shipgate.AuditCheckpoint // right after alice's approval
	denied     shipgate.AuditCheckpoint // after the 69 refusals
	end        shipgate.AuditCheckpoint // after bob's approval
	aliceSeq   int64
	deniedSeqs []int64
}

func (sc *checkpointScenario) all() []shipgate.AuditCheckpoint {
	return []shipgate.AuditCheckpoint{sc.before, sc.approved, sc.denied, sc.end}
}

func newCheckpointScenario(t *testing.T, engine string) *checkpointScenario {
	db, clock := newStore(t, engine)
	sc := &checkpointScenario{db: db, signer: testSigner(t, "server")}
	testutil.MustApply(t, db, testutil.ServiceYAML)
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	bob := testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	stg, _ := newRelease(db, "staging", "1.0", "carol")
	finishRun(t, db, stg.ID, true)
	r, err := newRelease(db, "production", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	approve := func(u *shipgate.User) {
		clock.Add(time.Second)
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			_, _, err := reconcile.Decide(ctx, tx, u, r.ID, shipgate.DecisionApprove, r.Digest, "")
			return err
		})
	}
	sc.before = checkpoint(t, db, sc.signer)
	approve(alice)
	sc.approved = checkpoint(t, db, sc.signer)
	for i := 0; i < 69; i++ {
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			return tx.Audit(ctx, shipgate.NewAuditEvent("vic", shipgate.ActionAccessDenied, "api", map[string]any{"path": "/api/v1/users", "status": 403, "count": 1}))
		})
	}
	sc.denied = checkpoint(t, db, sc.signer)
	approve(bob)
	sc.end = checkpoint(t, db, sc.signer)
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
		for _, e := range events {
			switch {
			case e.Action == shipgate.ActionReleaseApproved && e.Actor == "alice":
				sc.aliceSeq = e.Seq
			case e.Action == shipgate.ActionAccessDenied:
				sc.deniedSeqs = append(sc.deniedSeqs, e.Seq)
			}
		}
		return err
	})
	if sc.aliceSeq != sc.approved.Seq || len(sc.deniedSeqs) != 69 {
		t.Fatalf("scenario: alice approved at seq %d (checkpoint %d), %d refusals", sc.aliceSeq, sc.approved.Seq, len(sc.deniedSeqs))
	}
	return sc
}

// rewriteChain is the intruder with database write access: it drops the
// append-only guards, applies edit to the events, renumbers them, and
// recomputes every hash and the head with the real hash function, so the
// chain is consistent again.
func rewriteChain(t *testing.T, db *sqlstore.DB, engine string, edit func([]shipgate.AuditEvent) []shipgate.AuditEvent) {
	t.Helper()
	raw := rawDB(t, db, engine)
	dropGuards(t, raw, engine)
	rows, err := raw.Query(`SELECT seq, at, actor, action, subject, release_id, details FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var events []shipgate.AuditEvent
	var releaseIDs = map[int64]sql.NullInt64{}
	for rows.Next() {
		var e shipgate.AuditEvent
		var at int64
		var rid sql.NullInt64
		var details string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &rid, &details); err != nil {
			t.Fatal(err)
		}
		e.At, e.Details = time.UnixMicro(at).UTC(), []byte(details)
		releaseIDs[e.Seq] = rid
		events = append(events, e)
	}
	rows.Close()
	events = edit(events)
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	bind := func(q string) string {
		if engine != "postgres" {
			return q
		}
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
		return q
	}
	if _, err := tx.Exec(`DELETE FROM audit_events`); err != nil {
		t.Fatal(err)
	}
	prev := shipgate.GenesisHash
	for i := range events {
		e := &events[i]
		rid := releaseIDs[e.Seq]
		e.Seq, e.PrevHash = int64(i+1), prev
		if e.Hash, err = e.ComputeHash(); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(bind(`INSERT INTO audit_events (seq, at, actor, action, subject, release_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			e.Seq, e.At.UnixMicro(), e.Actor, e.Action, e.Subject, rid, string(e.Details), e.PrevHash, e.Hash); err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	if _, err := tx.Exec(bind(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`), len(events), prev); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func wantBroken(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("verify with checkpoints passed a rewritten log")
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error does not say %q:\n%v", p, err)
		}
	}
}

// The attack of finding 7: rename an approver in the log and recompute
// the whole chain. Plain verification is fooled; the checkpoints are not.
func testAuditCheckpointRenamedApprover(t *testing.T, engine string) {
	sc := newCheckpointScenario(t, engine)
	keys := []shipgate.AuditPublicKey{sc.signer.PublicKey()}
	if _, err := sc.db.VerifyAuditAnchored(ctx, keys, sc.all()); err != nil {
		t.Fatalf("untouched log: %v", err)
	}
	rewriteChain(t, sc.db, engine, func(events []shipgate.AuditEvent) []shipgate.AuditEvent {
		for i := range events {
			if events[i].Seq == sc.aliceSeq {
				events[i].Actor = "mallory"
			}
		}
		return events
	})
	verify(t, sc.db) // the chain alone says OK
	_, err := sc.db.VerifyAuditAnchored(ctx, keys, sc.all())
	wantBroken(t, err, fmt.Sprintf("audit chain broken at seq %d:", sc.aliceSeq), fmt.Sprintf("seq %d is the first changed event", sc.aliceSeq), "rewritten")
	// One checkpoint taken after the edit point is enough to fail; it
	// cannot narrow the edit down.
	_, err = sc.db.VerifyAuditAnchored(ctx, keys, []shipgate.AuditCheckpoint{sc.end})
	wantBroken(t, err, fmt.Sprintf("audit chain broken at seq %d:", sc.end.Seq), fmt.Sprintf("between seq 1 and %d", sc.end.Seq))
	// The server will not sign the rewritten head while its own last
	// checkpoint is in the database.
	if _, _, err := sc.db.Checkpoint(ctx, sc.signer); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "refusing to sign") {
		t.Fatalf("signing a rewritten log: %v", err)
	}
}

// The other attack of finding 7: delete the 69 refusals, renumber and
// recompute. The log is shorter than a checkpoint says it was.
func testAuditCheckpointDeletedRows(t *testing.T, engine string) {
	sc := newCheckpointScenario(t, engine)
	keys := []shipgate.AuditPublicKey{sc.signer.PublicKey()}
	rewriteChain(t, sc.db, engine, func(events []shipgate.AuditEvent) []shipgate.AuditEvent {
		var kept []shipgate.AuditEvent
		for _, e := range events {
			if e.Action != shipgate.ActionAccessDenied {
				kept = append(kept, e)
			}
		}
		return kept
	})
	n := verify(t, sc.db) // the chain alone says OK
	_, err := sc.db.VerifyAuditAnchored(ctx, keys, sc.all())
	wantBroken(t, err, "removed or renumbered", fmt.Sprintf("audit chain broken at seq %d:", n+1),
		fmt.Sprintf("between seq %d and %d (the checkpoint of seq %d still holds)", sc.deniedSeqs[0], n+1, sc.approved.Seq))
	// The intruder also deletes the stored checkpoints, so the server
	// signs the shortened log; the checkpoints kept outside still refuse it.
	raw := rawDB(t, sc.db, engine)
	for _, s := range map[string][]string{
		"sqlite":   {`DROP TRIGGER audit_checkpoints_no_delete`, `DELETE FROM audit_checkpoints`},
		"postgres": {`DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints`, `DELETE FROM audit_checkpoints`},
	}[engine] {
		if _, err := raw.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	forged := checkpoint(t, sc.db, sc.signer)
	if forged.Seq != n {
		t.Fatalf("forged head checkpoint at seq %d, want %d", forged.Seq, n)
	}
	_, err = sc.db.VerifyAuditAnchored(ctx, keys, append(sc.all(), forged))
	wantBroken(t, err, "removed or renumbered")
}

func testAuditCheckpointSigning(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	s := testSigner(t, "server")
	var announced []shipgate.AuditCheckpoint
	db.CheckpointOutbox = func(_ context.Context, cp shipgate.AuditCheckpoint) ([]sqlstore.Notification, error) {
		announced = append(announced, cp)
		return []sqlstore.Notification{{Sink: "hook", EventType: "audit.checkpoint", Subject: "audit", Payload: "{}"}}, nil
	}
	empty := checkpoint(t, db, s)
	if empty.Seq != 0 || empty.Hash != shipgate.GenesisHash {
		t.Fatalf("checkpoint of the empty log: %+v", empty)
	}
	testutil.MustApply(t, db, testutil.ServiceYAML)
	clock.Add(time.Minute)
	first := checkpoint(t, db, s)
	clock.Add(time.Minute)
	again := checkpoint(t, db, s)
	if first.Seq != 1 || again != first {
		t.Fatalf("head unmoved: %+v then %+v, want the same checkpoint", first, again)
	}
	if err := shipgate.VerifyCheckpoint(&first, []shipgate.AuditPublicKey{s.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	if !first.At.Equal(time.Date(2026, 3, 2, 10, 1, 0, 0, time.UTC)) {
		t.Fatalf("signed at %s, want the store's clock", first.At)
	}
	newRelease(db, "staging", "1.0", "carol")
	moved := checkpoint(t, db, s)
	if moved.Seq <= first.Seq {
		t.Fatalf("head moved but checkpoint seq %d", moved.Seq)
	}
	if len(announced) != 3 {
		t.Fatalf("%d checkpoints announced, want 3 (empty, first, moved)", len(announced))
	}
	var notes []sqlstore.Notification
	db.View(ctx, func(tx *sqlstore.Tx) error { notes, _ = tx.ListNotifications(ctx, "", 100); return nil })
	if len(notes) != 3 || notes[0].AuditSeq != moved.Seq {
		t.Fatalf("outbox %+v", notes)
	}

	// A checkpoint by another key, or an altered one, is refused before
	// the chain is even read.
	keys := []shipgate.AuditPublicKey{s.PublicKey()}
	other := testSigner(t, "someone else").Sign(moved.Seq, moved.Hash, moved.At)
	if _, err := db.VerifyAuditAnchored(ctx, keys, []shipgate.AuditCheckpoint{other}); err == nil || !strings.Contains(err.Error(), "signed by key "+testSigner(t, "someone else").PublicKey().ID()) {
		t.Fatalf("checkpoint of another key: %v", err)
	}
	tampered := moved
	tampered.Seq--
	if _, err := db.VerifyAuditAnchored(ctx, keys, []shipgate.AuditCheckpoint{tampered}); err == nil || !strings.Contains(err.Error(), "altered") {
		t.Fatalf("altered checkpoint: %v", err)
	}
	r, err := db.VerifyAuditAnchored(ctx, keys, []shipgate.AuditCheckpoint{first, moved, empty})
	if err != nil || r.Checkpoints != 3 || r.Newest.Seq != moved.Seq || r.HeadSeq != moved.Seq || r.HeadHash != moved.Hash {
		t.Fatalf("verification %+v, %v", r, err)
	}

	// A forged row under the server's key id is not resumed from.
	raw := rawDB(t, db, engine)
	forged := moved
	forged.Seq, forged.Signature = moved.Seq+1, other.Signature
	newRelease(db, "staging", "1.1", "carol")
	q := `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?)`
	if engine == "postgres" {
		q = `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)`
	}
	if _, err := raw.Exec(q, forged.Seq, forged.Hash, forged.At.UnixMicro(), forged.KeyID, forged.Signature); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Checkpoint(ctx, s); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("forged stored checkpoint: %v", err)
	}
}

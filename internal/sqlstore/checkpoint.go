package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/shipgate/shipgate"
)

// Checkpoint returns a checkpoint of the audit chain's current head signed
// by s: the newest one stored if the head has not moved since, else a new
// one, stored and announced (CheckpointOutbox) in one transaction, so
// servers sharing a database sign each head once.
//
// It signs only a head that extends the last checkpoint s signed: the
// events after it must link up to the head. A log rewritten under a stored
// checkpoint is refused with failed_precondition rather than signed. (An
// intruder who also deletes the stored checkpoints gets a signature on the
// rewritten log; the copies published outside the database still expose it.)
func (db *DB) Checkpoint(ctx context.Context, s *shipgate.AuditSigner) (cp shipgate.AuditCheckpoint, created bool, err error) {
	return db.checkpoint(ctx, s, true)
}

// CheckpointUnpublished is Checkpoint for callers who asked for one (the
// API's on-demand checkpoint): a new checkpoint is stored and returned but
// not sent to the notification sinks, so a caller who asks after every
// event cannot flood them. The background signer publishes the head within
// its interval (see PublishCheckpoint).
func (db *DB) CheckpointUnpublished(ctx context.Context, s *shipgate.AuditSigner) (cp shipgate.AuditCheckpoint, created bool, err error) {
	return db.checkpoint(ctx, s, false)
}

// PublishCheckpoint queues a stored checkpoint for the notification
// sinks that have not been sent it yet, as the outbox records: the
// background signer publishes a checkpoint someone asked for on demand
// (stored unpublished), and after a restart, or on another server sharing
// the database, it finds the newest checkpoint already sent.
func (db *DB) PublishCheckpoint(ctx context.Context, cp shipgate.AuditCheckpoint) error {
	notes, err := db.checkpointNotes(ctx, cp)
	if err != nil || len(notes) == 0 {
		return err // no sinks: no write either
	}
	return db.Update(ctx, func(tx *Tx) error {
		var unsent []Notification
		for _, n := range notes {
			var one int
			err := tx.queryRow(ctx, `SELECT 1 FROM outbox WHERE audit_seq = ? AND event_type = ? AND sink = ? LIMIT 1`, cp.Seq, n.EventType, n.Sink).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				unsent = append(unsent, n)
			} else if err != nil {
				return err
			}
		}
		return tx.enqueue(ctx, cp.Seq, unsent)
	})
}

func (db *DB) checkpointNotes(ctx context.Context, cp shipgate.AuditCheckpoint) ([]Notification, error) {
	if db.CheckpointOutbox == nil {
		return nil, nil
	}
	notes, err := db.CheckpointOutbox(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("notifications for the checkpoint of seq %d: %w", cp.Seq, err)
	}
	return notes, nil
}

// checkpointAttempts bounds how often signing starts over because another
// server signed in between.
const checkpointAttempts = 4

func (db *DB) checkpoint(ctx context.Context, s *shipgate.AuditSigner, publish bool) (shipgate.AuditCheckpoint, bool, error) {
	for attempt := 1; ; attempt++ {
		cp, created, retry, err := db.checkpointOnce(ctx, s, publish)
		if !retry {
			return cp, created, err
		}
		if attempt == checkpointAttempts {
			return shipgate.AuditCheckpoint{}, false, shipgate.Errorf(shipgate.ECONFLICT, "the audit head was not signed: other servers signed %d times while this one tried; try again", attempt)
		}
	}
}

func (db *DB) checkpointOnce(ctx context.Context, s *shipgate.AuditSigner, publish bool) (cp shipgate.AuditCheckpoint, created, retry bool, err error) {
	// Outside the write lock: check the (possibly long) stretch from the
	// last checkpoint to the head as it is now.
	var v shipgate.AuditVerifier
	var last *shipgate.AuditCheckpoint
	var headSeq int64
	var headHash string
	err = db.View(ctx, func(tx *Tx) error {
		var err error
		if last, err = tx.lastCheckpoint(ctx, s.PublicKey()); err != nil {
			return err
		}
		if last != nil {
			v.Resume(last.Seq, last.Hash)
		}
		if headSeq, headHash, err = tx.AuditHead(ctx); err != nil {
			return err
		}
		return tx.verifyRange(ctx, &v, headSeq)
	})
	if err != nil {
		return cp, false, false, refuseToSign(last, err)
	}
	if last != nil && last.Seq == headSeq {
		// Nothing moved: no need for the write lock.
		if err := v.Finish(headSeq, headHash); err != nil {
			return cp, false, false, refuseToSign(last, err)
		}
		return *last, false, false, nil
	}
	err = db.Update(ctx, func(tx *Tx) error {
		now, err := tx.lastCheckpoint(ctx, s.PublicKey())
		if err != nil {
			return err
		}
		if (now == nil) != (last == nil) || (now != nil && now.Seq != last.Seq) {
			retry = true // another server signed meanwhile; start over from its checkpoint
			return nil
		}
		headSeq, headHash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		if err := tx.verifyRange(ctx, &v, headSeq); err != nil {
			return refuseToSign(last, err)
		}
		if err := v.Finish(headSeq, headHash); err != nil {
			return refuseToSign(last, err)
		}
		if last != nil && last.Seq == headSeq {
			cp = *last // the head has not moved
			return nil
		}
		cp, created = s.Sign(headSeq, headHash, tx.now), true
		if _, err := tx.exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?)`,
			cp.Seq, cp.Hash, micros(cp.At), cp.KeyID, cp.Signature); err != nil {
			return fmt.Errorf("store audit checkpoint: %w", err)
		}
		if !publish {
			return nil
		}
		notes, err := db.checkpointNotes(ctx, cp)
		if err != nil {
			return err
		}
		return tx.enqueue(ctx, cp.Seq, notes)
	})
	return cp, created && err == nil && !retry, retry, err
}

func refuseToSign(last *shipgate.AuditCheckpoint, err error) error {
	var se *shipgate.Error
	if errors.As(err, &se) {
		return err
	}
	since := "the start of the log"
	if last != nil {
		since = fmt.Sprintf("this server's last checkpoint (seq %d, signed at %s)", last.Seq, last.At.Format("2006-01-02T15:04:05Z07:00"))
	}
	return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "refusing to sign the audit head: the log does not extend %s: %v; run `shipgate audit verify --checkpoint FILE --public-key KEY` with checkpoints kept outside the database", since, err)
}

// verifyRange feeds v the events after the last one it saw, up to seq.
func (tx *Tx) verifyRange(ctx context.Context, v *shipgate.AuditVerifier, upTo int64) error {
	for {
		after := v.Verification().HeadSeq
		if after >= upTo {
			return nil
		}
		page, err := tx.ListAudit(ctx, shipgate.AuditFilter{AfterSeq: after, Limit: 5000})
		if err != nil {
			return err
		}
		for i := range page {
			if page[i].Seq > upTo {
				return nil
			}
			if err := v.Add(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < 5000 {
			return nil // v.Finish names what is missing
		}
	}
}

// lastCheckpoint is the newest stored checkpoint of key id, nil if none.
// A stored row that the key did not sign is a sign of tampering and an
// error: the server must not resume from a forged checkpoint.
func (tx *Tx) lastCheckpoint(ctx context.Context, key shipgate.AuditPublicKey) (*shipgate.AuditCheckpoint, error) {
	var cp shipgate.AuditCheckpoint
	var at int64
	err := tx.queryRow(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE key_id = ? ORDER BY seq DESC LIMIT 1`, key.ID()).
		Scan(&cp.Seq, &cp.Hash, &at, &cp.KeyID, &cp.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read last audit checkpoint: %w", err)
	}
	cp.At = fromMicros(at)
	if err := shipgate.VerifyCheckpoint(&cp, []shipgate.AuditPublicKey{key}); err != nil {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "refusing to sign the audit head: the stored %v; the database was tampered with", err)
	}
	return &cp, nil
}

// NewestCheckpoint returns the newest stored checkpoint by any key, and
// whether there is one.
func (tx *Tx) NewestCheckpoint(ctx context.Context) (shipgate.AuditCheckpoint, bool, error) {
	var cp shipgate.AuditCheckpoint
	var at int64
	err := tx.queryRow(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq DESC, at DESC LIMIT 1`).
		Scan(&cp.Seq, &cp.Hash, &at, &cp.KeyID, &cp.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, false, nil
	}
	cp.At = fromMicros(at)
	return cp, err == nil, err
}

package sqlstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/shipgate/shipgate"
)

// Audit appends events to the chain inside the transaction. The head row
// moves with them, so the events commit or vanish together with the change
// they record.
func (tx *Tx) Audit(ctx context.Context, events ...shipgate.AuditEvent) error {
	if !tx.writable {
		return fmt.Errorf("audit append in a read-only transaction")
	}
	if len(events) == 0 {
		return nil
	}
	var seq int64
	var prev string
	if err := tx.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &prev); err != nil {
		return fmt.Errorf("read audit head: %w", err)
	}
	for _, e := range events {
		seq++
		e.Seq, e.At, e.PrevHash = seq, tx.now, prev
		h, err := e.ComputeHash()
		if err != nil {
			return fmt.Errorf("audit event %s: %w", e.Action, err)
		}
		e.Hash = h
		if _, err := tx.exec(ctx, `INSERT INTO audit_events (seq, at, actor, action, subject, release_id, details, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, micros(e.At), e.Actor, e.Action, e.Subject, releaseIDOf(e.Subject), string(e.Details), e.PrevHash, e.Hash); err != nil {
			return fmt.Errorf("append audit event: %w", err)
		}
		prev = h
		if tx.db.Outbox != nil {
			notes, err := tx.db.Outbox(ctx, tx, e)
			if err != nil {
				return fmt.Errorf("notifications for %s: %w", e.Action, err)
			}
			if err := tx.enqueue(ctx, e.Seq, notes); err != nil {
				return err
			}
		}
	}
	if _, err := tx.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, seq, prev); err != nil {
		return fmt.Errorf("move audit head: %w", err)
	}
	return nil
}

// releaseIDOf extracts N from a "release/N" subject so events can be listed
// per release.
func releaseIDOf(subject string) any {
	if id, ok := shipgate.ReleaseIDOf(subject); ok {
		return id
	}
	return nil
}

// AuditHead returns the seq and hash of the last event (0 and the genesis
// hash for an empty chain).
func (tx *Tx) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := tx.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, err
}

// ListAudit returns events in seq order matching f. Limit defaults to 1000.
func (tx *Tx) ListAudit(ctx context.Context, f shipgate.AuditFilter) ([]shipgate.AuditEvent, error) {
	q := `SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_events WHERE seq > ?`
	args := []any{f.AfterSeq}
	if f.Since != nil {
		q += ` AND at >= ?`
		args = append(args, micros(*f.Since))
	}
	if f.ReleaseID != 0 {
		q += ` AND release_id = ?`
		args = append(args, f.ReleaseID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	q += ` ORDER BY seq LIMIT ` + strconv.Itoa(limit)
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shipgate.AuditEvent
	for rows.Next() {
		var e shipgate.AuditEvent
		var at int64
		var details string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &details, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		e.Details = []byte(details)
		out = append(out, e)
	}
	return out, rows.Err()
}

// VerifyAudit recomputes the whole chain in pages and checks its end
// against the head. It returns the number of events checked and an error
// naming the first bad seq.
func (db *DB) VerifyAudit(ctx context.Context) (int64, error) {
	r, err := db.VerifyAuditAnchored(ctx, nil, nil)
	return r.Events, err
}

// VerifyAuditAnchored is VerifyAudit that also holds the chain to
// checkpoints signed by one of keys (see shipgate.AuditVerifier.Anchor): a
// chain rewritten and recomputed after a checkpoint fails, naming the
// first bad seq the checkpoints establish.
func (db *DB) VerifyAuditAnchored(ctx context.Context, keys []shipgate.AuditPublicKey, checkpoints []shipgate.AuditCheckpoint) (shipgate.AuditVerification, error) {
	var v shipgate.AuditVerifier
	if len(checkpoints) > 0 {
		if err := v.Anchor(keys, checkpoints); err != nil {
			return v.Verification(), err
		}
	}
	var after int64
	var headSeq int64
	var headHash string
	for {
		var page []shipgate.AuditEvent
		err := db.View(ctx, func(tx *Tx) error {
			var err error
			if after == 0 {
				if headSeq, headHash, err = tx.AuditHead(ctx); err != nil {
					return err
				}
			}
			page, err = tx.ListAudit(ctx, shipgate.AuditFilter{AfterSeq: after, Limit: 5000})
			return err
		})
		if err != nil {
			return v.Verification(), err
		}
		for i := range page {
			if page[i].Seq > headSeq {
				break // appended after we read the head
			}
			if err := v.Add(&page[i]); err != nil {
				return v.Verification(), err
			}
		}
		if len(page) < 5000 || page[len(page)-1].Seq >= headSeq {
			break
		}
		after = page[len(page)-1].Seq
	}
	return v.Verification(), v.Finish(headSeq, headHash)
}

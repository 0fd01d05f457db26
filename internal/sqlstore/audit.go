package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

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
		if tx.db.Committed != nil {
			tx.audited = append(tx.audited, e)
		}
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
	limit := f.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	f.Limit = limit
	var out []shipgate.AuditEvent
	err := tx.EachAudit(ctx, f, func(e *shipgate.AuditEvent) error {
		c := *e
		c.Details = slices.Clone(e.Details)
		out = append(out, c)
		return nil
	})
	return out, err
}

// EachAudit calls fn for every event matching f in seq order (highest
// first when f.Newest), at most
// f.Limit of them when it is positive, reading rows as it goes: memory does
// not grow with the number of events. The event passed to fn, its Details
// included, is reused for the next row; fn must copy what it keeps. An
// error from fn stops the scan and is returned.
func (tx *Tx) EachAudit(ctx context.Context, f shipgate.AuditFilter, fn func(e *shipgate.AuditEvent) error) error {
	q := `SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_events WHERE seq > ?`
	args := []any{f.AfterSeq}
	if f.UpToSeq > 0 {
		q += ` AND seq <= ?`
		args = append(args, f.UpToSeq)
	}
	if f.Since != nil {
		q += ` AND at >= ?`
		args = append(args, micros(*f.Since))
	}
	if f.ReleaseID != 0 {
		q += ` AND release_id = ?`
		args = append(args, f.ReleaseID)
	}
	if f.Until != nil {
		q += ` AND at < ?`
		args = append(args, micros(*f.Until))
	}
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.ActionPrefix != "" {
		// substr, not LIKE: no wildcard in the prefix ("_" is common in
		// actions) needs escaping, on either engine.
		q += ` AND substr(action, 1, ?) = ?`
		args = append(args, utf8.RuneCountInString(f.ActionPrefix), f.ActionPrefix)
	}
	if f.BeforeSeq > 0 {
		q += ` AND seq < ?`
		args = append(args, f.BeforeSeq)
	}
	if f.Newest {
		q += ` ORDER BY seq DESC`
	} else {
		q += ` ORDER BY seq`
	}
	if f.Limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var e shipgate.AuditEvent
	var at int64
	var details sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &details, &e.PrevHash, &e.Hash); err != nil {
			return err
		}
		e.At = fromMicros(at)
		e.Details = append(e.Details[:0], details...)
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
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
	var headSeq int64
	var headHash string
	// Pages of their own read transactions, so a long chain does not hold
	// one snapshot open (and, on SQLite, the WAL unchecked) throughout.
	// Events never change, so pages read after the head still form the
	// chain it closes.
	const page = 10000
	for after, first := int64(0), true; first || after < headSeq; first = false {
		n := 0
		err := db.View(ctx, func(tx *Tx) error {
			var err error
			if first {
				if headSeq, headHash, err = tx.AuditHead(ctx); err != nil || headSeq == 0 {
					return err
				}
			}
			return tx.EachAudit(ctx, shipgate.AuditFilter{AfterSeq: after, UpToSeq: headSeq, Limit: page}, func(e *shipgate.AuditEvent) error {
				n++
				after = e.Seq
				return v.Add(e)
			})
		})
		if err != nil {
			return v.Verification(), err
		}
		if n < page {
			break
		}
	}
	return v.Verification(), v.Finish(headSeq, headHash)
}

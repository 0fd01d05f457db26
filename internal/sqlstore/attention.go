package sqlstore

import (
	"context"
	"database/sql"

	"github.com/shipgate/shipgate"
)

// OpenAttentions returns the waits of a release for a person that have not
// ended, at most one per reason.
func (tx *Tx) OpenAttentions(ctx context.Context, releaseID int64) ([]shipgate.Attention, error) {
	rows, err := tx.query(ctx, `SELECT release_id, reason, wait_key, opened_at, reminders, last_notice_at, escalated_at, closed_at
		FROM attentions WHERE release_id = ? AND closed_at IS NULL ORDER BY reason`, releaseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shipgate.Attention
	for rows.Next() {
		var a shipgate.Attention
		var opened int64
		var last, esc, closed sql.NullInt64
		if err := rows.Scan(&a.ReleaseID, &a.Reason, &a.Key, &opened, &a.Reminders, &last, &esc, &closed); err != nil {
			return nil, err
		}
		a.OpenedAt, a.LastNoticeAt, a.EscalatedAt, a.ClosedAt = fromMicros(opened), fromNullMicros(last), fromNullMicros(esc), fromNullMicros(closed)
		out = append(out, a)
	}
	return out, rows.Err()
}

// PutAttention records a wait: a new one, or what was sent for an open one
// and its end. Changing a wait that has ended, or opening a second one for
// the same reason, is a conflict (two servers raced; the loser retries).
func (tx *Tx) PutAttention(ctx context.Context, a *shipgate.Attention, fresh bool) error {
	if fresh {
		_, err := tx.exec(ctx, `INSERT INTO attentions (release_id, reason, wait_key, opened_at, reminders, last_notice_at, escalated_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ReleaseID, a.Reason, a.Key, micros(a.OpenedAt), a.Reminders, microsPtr(a.LastNoticeAt), microsPtr(a.EscalatedAt), microsPtr(a.ClosedAt))
		if err != nil && isUniqueViolation(err) {
			return shipgate.Errorf(shipgate.ECONFLICT, "release %d already has an open %s wait", a.ReleaseID, a.Reason)
		}
		return err
	}
	res, err := tx.exec(ctx, `UPDATE attentions SET reminders = ?, last_notice_at = ?, escalated_at = ?, closed_at = ?
		WHERE release_id = ? AND reason = ? AND opened_at = ? AND closed_at IS NULL`,
		a.Reminders, microsPtr(a.LastNoticeAt), microsPtr(a.EscalatedAt), microsPtr(a.ClosedAt), a.ReleaseID, a.Reason, micros(a.OpenedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return shipgate.Errorf(shipgate.ECONFLICT, "the %s wait of release %d has ended or changed", a.Reason, a.ReleaseID)
	}
	return nil
}

// OpenIncident records that sink was sent a PagerDuty trigger with key.
func (tx *Tx) OpenIncident(ctx context.Context, sink, key string) error {
	res, err := tx.exec(ctx, `UPDATE notify_incidents SET opened_at = ?, resolved_at = NULL WHERE sink = ? AND dedup_key = ?`, micros(tx.now), sink, key)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	_, err = tx.exec(ctx, `INSERT INTO notify_incidents (sink, dedup_key, opened_at) VALUES (?, ?, ?)`, sink, key, micros(tx.now))
	return err
}

// ResolveIncident marks sink's incident key resolved and reports whether
// it was open: a resolve is sent only for an incident the sink has.
func (tx *Tx) ResolveIncident(ctx context.Context, sink, key string) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE notify_incidents SET resolved_at = ? WHERE sink = ? AND dedup_key = ? AND resolved_at IS NULL`, micros(tx.now), sink, key)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

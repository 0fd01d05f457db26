package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/shipgate/shipgate"
)

// Notification states in the outbox.
const (
	NotifyPending   = "pending"
	NotifyDelivered = "delivered"
	NotifyFailed    = "failed"
)

// Notification is the outbox row (shipgate.Notification).
type Notification = shipgate.Notification

func (tx *Tx) enqueue(ctx context.Context, seq int64, notes []Notification) error {
	for _, n := range notes {
		tx.notified = true
		if _, err := tx.exec(ctx, `INSERT INTO outbox (sink, event_type, subject, audit_seq, payload, state, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			n.Sink, n.EventType, n.Subject, seq, n.Payload, NotifyPending, micros(tx.now), micros(tx.now)); err != nil {
			return err
		}
	}
	return nil
}

const outboxColumns = `id, sink, event_type, subject, audit_seq, payload, state, attempts, next_attempt_at, last_error, created_at, delivered_at`

func scanNotification(sc interface{ Scan(...any) error }) (Notification, error) {
	var n Notification
	var next, created int64
	var delivered sql.NullInt64
	err := sc.Scan(&n.ID, &n.Sink, &n.EventType, &n.Subject, &n.AuditSeq, &n.Payload, &n.State, &n.Attempts, &next, &n.LastError, &created, &delivered)
	n.NextAttempt, n.CreatedAt, n.DeliveredAt = fromMicros(next), fromMicros(created), fromNullMicros(delivered)
	return n, err
}

// ClaimNotifications leases up to limit due notifications for delivery, so
// that servers sharing a database do not deliver one twice. A sink's
// notifications go out one at a time, in the order they were written.
func (db *DB) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]Notification, error) {
	var out []Notification
	err := db.Update(ctx, func(tx *Tx) error {
		// Each sink gets its notifications in order: only its oldest pending
		// one is due, so a resolve never overtakes its trigger.
		rows, err := tx.query(ctx, `SELECT `+outboxColumns+` FROM outbox o WHERE state = ? AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
			AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.sink = o.sink AND e.state = ? AND e.id < o.id)
			ORDER BY next_attempt_at, id LIMIT `+strconv.Itoa(limit),
			NotifyPending, micros(tx.now), micros(tx.now), NotifyPending)
		if err != nil {
			return err
		}
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, n := range out {
			if _, err := tx.exec(ctx, `UPDATE outbox SET lease_until = ? WHERE id = ?`, micros(tx.now.Add(lease)), n.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// NotificationDelivered records a delivery.
func (db *DB) NotificationDelivered(ctx context.Context, id int64) error {
	return db.Update(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, delivered_at = ?, lease_until = NULL, last_error = '' WHERE id = ?`,
			NotifyDelivered, micros(tx.now), id)
		return err
	})
}

// NotificationFailed records a failed attempt: another at next, or, when
// final, the notification is given up and shows in `notify list --failed`.
func (db *DB) NotificationFailed(ctx context.Context, id int64, reason string, next time.Time, final bool) error {
	state := NotifyPending
	if final {
		state = NotifyFailed
	}
	return db.Update(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, lease_until = NULL, last_error = ? WHERE id = ?`,
			state, micros(next), clipText(reason, 1000), id)
		return err
	})
}

// ListNotifications returns notifications, newest first, of one state or
// all ("").
func (tx *Tx) ListNotifications(ctx context.Context, state string, limit int) ([]Notification, error) {
	q := `SELECT ` + outboxColumns + ` FROM outbox`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := tx.query(ctx, q+` ORDER BY id DESC LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

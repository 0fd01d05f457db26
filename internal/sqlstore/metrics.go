package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
)

// Gauges is the control plane's current state as a scrape of /metrics
// reports it: a handful of cheap aggregate queries (indexed counts and
// single rows), never a walk over every release.
type Gauges struct {
	// ReleasesByState counts releases in each state.
	ReleasesByState map[string]int64
	// JobsQueued counts jobs ready and waiting for a runner.
	JobsQueued int64
	// AgentsOnline counts agents heard from within lostAfter and not
	// draining; AgentsDraining those draining and still in touch.
	AgentsOnline, AgentsDraining int64
	// OutboxPending counts notifications not yet delivered;
	// OutboxFailed those given up.
	OutboxPending, OutboxFailed int64
	// AuditLength is the sequence number of the audit chain's head.
	AuditLength int64
	// LastCheckpoint is when the newest audit checkpoint was signed; zero
	// when none was.
	LastCheckpoint time.Time
}

// ControlPlaneGauges reads Gauges; an agent silent for longer than
// lostAfter is not online.
func (tx *Tx) ControlPlaneGauges(ctx context.Context, lostAfter time.Duration) (Gauges, error) {
	g := Gauges{ReleasesByState: map[string]int64{}}
	rows, err := tx.query(ctx, `SELECT state, COUNT(*) FROM releases GROUP BY state`)
	if err != nil {
		return g, fmt.Errorf("count releases: %w", err)
	}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return g, err
		}
		g.ReleasesByState[state] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return g, err
	}
	seen := micros(tx.now.Add(-lostAfter))
	var last sql.NullInt64
	for _, q := range []struct {
		dst  any
		sql  string
		args []any
	}{
		{&g.JobsQueued, `SELECT COUNT(*) FROM jobs WHERE state = ?`, []any{shipgate.JobQueued}},
		{&g.AgentsOnline, `SELECT COUNT(*) FROM agents WHERE last_seen >= ? AND draining = 0`, []any{seen}},
		{&g.AgentsDraining, `SELECT COUNT(*) FROM agents WHERE last_seen >= ? AND draining <> 0`, []any{seen}},
		{&g.OutboxPending, `SELECT COUNT(*) FROM outbox WHERE state = ?`, []any{NotifyPending}},
		{&g.OutboxFailed, `SELECT COUNT(*) FROM outbox WHERE state = ?`, []any{NotifyFailed}},
		{&g.AuditLength, `SELECT seq FROM audit_head WHERE id = 1`, nil},
		{&last, `SELECT MAX(at) FROM audit_checkpoints`, nil},
	} {
		if err := tx.queryRow(ctx, q.sql, q.args...).Scan(q.dst); err != nil {
			return g, fmt.Errorf("control-plane gauges: %w", err)
		}
	}
	if last.Valid {
		g.LastCheckpoint = fromMicros(last.Int64)
	}
	return g, nil
}

// ReleaseCreatedAt is when release id was created.
func (tx *Tx) ReleaseCreatedAt(ctx context.Context, id int64) (time.Time, error) {
	var at int64
	err := tx.queryRow(ctx, `SELECT created_at FROM releases WHERE id = ?`, id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, shipgate.Errorf(shipgate.ENOTFOUND, "release %d not found", id)
	}
	return fromMicros(at), err
}

// LastEventBefore is the time of the newest event with action about
// subject appended before audit sequence number seq; ok is false when
// there is none.
func (tx *Tx) LastEventBefore(ctx context.Context, subject, action string, seq int64) (at time.Time, ok bool, err error) {
	var v sql.NullInt64
	if err := tx.queryRow(ctx, `SELECT MAX(at) FROM audit_events WHERE release_id = ? AND subject = ? AND action = ? AND seq < ?`,
		releaseIDOf(subject), subject, action, seq).Scan(&v); err != nil {
		return time.Time{}, false, err
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(v.Int64), true, nil
}

// JobQueuedAt is when the job name of run run of release id was last
// queued; ok is false when it never was.
func (tx *Tx) JobQueuedAt(ctx context.Context, id int64, run int, name string) (at time.Time, ok bool, err error) {
	var v sql.NullInt64
	err = tx.queryRow(ctx, `SELECT queued_at FROM jobs WHERE release_id = ? AND run = ? AND name = ?`, id, run, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !v.Valid) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return fromMicros(v.Int64), true, nil
}

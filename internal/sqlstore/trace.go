package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/shipgate/shipgate"
)

// TraceState returns the database's trace secret and how far spans have
// been emitted from the audit chain. The first call creates both: a fresh
// random secret, and a cursor at the audit head (history recorded before
// tracing was turned on is not exported). Concurrent first calls from
// several servers agree on one secret.
func (tx *Tx) TraceState(ctx context.Context) (secret []byte, cursor int64, err error) {
	var s string
	err = tx.queryRow(ctx, `SELECT secret, cursor_seq FROM trace_state WHERE id = 1`).Scan(&s, &cursor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, err
	}
	if errors.Is(err, sql.ErrNoRows) {
		head, _, err := tx.AuditHead(ctx)
		if err != nil {
			return nil, 0, err
		}
		fresh := make([]byte, 32)
		rand.Read(fresh)
		if _, err := tx.exec(ctx, `INSERT INTO trace_state (id, secret, cursor_seq) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`, hex.EncodeToString(fresh), head); err != nil {
			return nil, 0, err
		}
		if err := tx.queryRow(ctx, `SELECT secret, cursor_seq FROM trace_state WHERE id = 1`).Scan(&s, &cursor); err != nil {
			return nil, 0, err
		}
	}
	secret, err = hex.DecodeString(s)
	if err != nil || len(secret) < 16 {
		return nil, 0, fmt.Errorf("trace secret in the database is damaged: %w", ErrTraceSecret)
	}
	return secret, cursor, nil
}

// ErrTraceSecret is wrapped when the stored trace secret cannot be read.
var ErrTraceSecret = errors.New("bad trace secret")

// AdvanceTraceCursor records that spans were emitted for every audit event
// up to to, if the cursor is still at from: of two emitters that read the
// same events (an old leader finishing late), only one emits them. It
// reports whether the cursor moved.
func (tx *Tx) AdvanceTraceCursor(ctx context.Context, from, to int64) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE trace_state SET cursor_seq = ? WHERE id = 1 AND cursor_seq = ? AND ? > cursor_seq`, to, from, to)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// TraceCursor returns how far spans have been emitted from the audit chain
// (TraceState must have been called once, as a tracing server does when it
// starts).
func (tx *Tx) TraceCursor(ctx context.Context) (int64, error) {
	var cursor int64
	err := tx.queryRow(ctx, `SELECT cursor_seq FROM trace_state WHERE id = 1`).Scan(&cursor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "tracing was not set up in this database")
	}
	return cursor, err
}

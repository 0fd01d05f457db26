package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/shipgate/shipgate"
)

// CheckpointCovering returns the earliest stored checkpoint of key id
// that covers event seq (its seq is seq or later), and whether there is
// one: an evidence bundle anchors a release's events with it, and the
// earliest is the shortest stretch of chain to hand an auditor.
func (tx *Tx) CheckpointCovering(ctx context.Context, keyID string, seq int64) (shipgate.AuditCheckpoint, bool, error) {
	var cp shipgate.AuditCheckpoint
	var at int64
	err := tx.queryRow(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE key_id = ? AND seq >= ? ORDER BY seq ASC, at ASC LIMIT 1`, keyID, seq).
		Scan(&cp.Seq, &cp.Hash, &at, &cp.KeyID, &cp.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, false, nil
	}
	if err != nil {
		return cp, false, fmt.Errorf("read audit checkpoint covering seq %d: %w", seq, err)
	}
	cp.At = fromMicros(at)
	return cp, true, nil
}

// RollbacksOf returns the ids of the rollback releases that replaced
// release id, oldest first.
func (tx *Tx) RollbacksOf(ctx context.Context, id int64) ([]int64, error) {
	rows, err := tx.query(ctx, `SELECT id FROM releases WHERE rollback_of = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("list rollbacks of release %d: %w", id, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var rid int64
		if err := rows.Scan(&rid); err != nil {
			return nil, err
		}
		out = append(out, rid)
	}
	return out, rows.Err()
}

package sqlstore

import (
	"context"

	"github.com/shipgate/shipgate"
)

// OpenRollbacks lists the pending or held rollbacks of a service's
// releases in env, oldest release first.
func (tx *Tx) OpenRollbacks(ctx context.Context, service, env string) ([]*shipgate.Rollback, error) {
	rows, err := tx.queryRows(ctx, `SELECT rb.release_id FROM rollbacks rb JOIN releases r ON r.id = rb.release_id
		WHERE r.service = ? AND r.environment = ? AND rb.state IN (?, ?) ORDER BY rb.release_id LIMIT 100`,
		service, env, shipgate.RollbackPending, shipgate.RollbackHeld)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []*shipgate.Rollback{}
	for _, id := range ids {
		rb, err := tx.FindRollback(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, rb)
	}
	return out, nil
}

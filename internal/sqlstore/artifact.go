package sqlstore

import (
	"context"
	"database/sql"

	"github.com/shipgate/shipgate"
)

// ArtifactRefs lists, for every release, the artifact it pins and what
// decides whether it can still need it (shipgate.ArtifactRef.NeedsBytes),
// oldest release first. Artifact gc reads it in the transaction that
// audits what it removes.
func (tx *Tx) ArtifactRefs(ctx context.Context) ([]shipgate.ArtifactRef, error) {
	rows, err := tx.query(ctx, `SELECT id, artifact_sha256, state, succeeded_at FROM releases ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shipgate.ArtifactRef
	for rows.Next() {
		var r shipgate.ArtifactRef
		var succeeded sql.NullInt64
		if err := rows.Scan(&r.ReleaseID, &r.SHA256, &r.State, &succeeded); err != nil {
			return nil, err
		}
		r.Succeeded = succeeded.Valid
		out = append(out, r)
	}
	return out, rows.Err()
}

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shipgate/shipgate"
)

const evidenceColumns = `id, release_id, type, name, sha256, size, summary, job, attempt, added_by, added_at`

// AddEvidence attaches e (its release, type, name, digest, size, summary,
// job and attempt; AddedBy) with content, the bytes whose sha256 is
// e.SHA256. It sets e's ID and AddedAt. Attaching bytes a release already
// has as that type adds nothing: e becomes the item attached before and
// added is false. The caller audits what was added in the same
// transaction.
func (tx *Tx) AddEvidence(ctx context.Context, e *shipgate.Evidence, content []byte) (added bool, err error) {
	if int64(len(content)) != e.Size {
		return false, fmt.Errorf("evidence %s: %d bytes but size %d", e.Name, len(content), e.Size)
	}
	prev, err := tx.scanEvidence(tx.queryRow(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE release_id = ? AND type = ? AND sha256 = ?`, e.ReleaseID, e.Type, e.SHA256))
	switch {
	case err == nil:
		*e = prev
		return false, nil
	case shipgate.ErrorCode(err) != shipgate.ENOTFOUND:
		return false, err
	}
	// The bytes are kept once per digest; two releases attaching the same
	// file at once both find them there.
	if _, err := tx.exec(ctx, `INSERT INTO evidence_blobs (sha256, size, content) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING`, e.SHA256, e.Size, content); err != nil {
		return false, err
	}
	var summary any
	if e.Summary != nil {
		b, err := json.Marshal(e.Summary)
		if err != nil {
			return false, err
		}
		summary = string(b)
		// What is returned is what later reads return: numbers as float64.
		e.Summary = nil
		if err := json.Unmarshal(b, &e.Summary); err != nil {
			return false, err
		}
	}
	e.AddedAt = tx.now
	err = tx.queryRow(ctx, `INSERT INTO evidence (release_id, type, name, sha256, size, summary, job, attempt, added_by, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.ReleaseID, e.Type, e.Name, e.SHA256, e.Size, summary, e.Job, e.Attempt, e.AddedBy, micros(e.AddedAt)).Scan(&e.ID)
	if isUniqueViolation(err) {
		return false, shipgate.Errorf(shipgate.ECONFLICT, "evidence %s was attached to release %d at the same time; try again", e.Name, e.ReleaseID)
	}
	return err == nil, err
}

// ListEvidence returns the evidence attached to a release, oldest first.
func (tx *Tx) ListEvidence(ctx context.Context, releaseID int64) ([]shipgate.Evidence, error) {
	rows, err := tx.query(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE release_id = ? ORDER BY id`, releaseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.Evidence{}
	for rows.Next() {
		e, err := tx.scanEvidence(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// FindEvidence returns one item by id.
func (tx *Tx) FindEvidence(ctx context.Context, id int64) (shipgate.Evidence, error) {
	e, err := tx.scanEvidence(tx.queryRow(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE id = ?`, id))
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return e, shipgate.Errorf(shipgate.ENOTFOUND, "evidence %d not found", id)
	}
	return e, err
}

// EvidenceContent returns the bytes stored for a digest.
func (tx *Tx) EvidenceContent(ctx context.Context, sha256 string) ([]byte, error) {
	var b []byte
	err := tx.queryRow(ctx, `SELECT content FROM evidence_blobs WHERE sha256 = ?`, sha256).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, shipgate.Errorf(shipgate.ENOTFOUND, "no evidence has sha256 %s", sha256)
	}
	return b, err
}

func (tx *Tx) scanEvidence(row interface{ Scan(...any) error }) (shipgate.Evidence, error) {
	var e shipgate.Evidence
	var summary sql.NullString
	var added int64
	err := row.Scan(&e.ID, &e.ReleaseID, &e.Type, &e.Name, &e.SHA256, &e.Size, &summary, &e.Job, &e.Attempt, &e.AddedBy, &added)
	if errors.Is(err, sql.ErrNoRows) {
		return e, shipgate.Errorf(shipgate.ENOTFOUND, "evidence not found")
	}
	if err != nil {
		return e, err
	}
	e.AddedAt = fromMicros(added)
	if summary.Valid {
		if err := json.Unmarshal([]byte(summary.String), &e.Summary); err != nil {
			return e, fmt.Errorf("evidence %d: summary: %w", e.ID, err)
		}
	}
	return e, nil
}

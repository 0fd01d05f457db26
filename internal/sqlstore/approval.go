package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/shipgate/shipgate"
)

// Decide records an approve or reject decision by u on release id, whose
// digest the caller states so nobody approves something other than what
// they saw. The environment policy frozen into the release decides who may
// decide; a reject ends the release at once. Moving an approved release on
// is the reconciler's job.
func (tx *Tx) Decide(ctx context.Context, u *shipgate.User, id int64, decision, digest, comment string) (*shipgate.Approval, *shipgate.Release, error) {
	if decision != shipgate.DecisionApprove && decision != shipgate.DecisionReject {
		return nil, nil, shipgate.Errorf(shipgate.EINVALID, "decision must be approve or reject")
	}
	if err := shipgate.ValidateLine("comment", comment, shipgate.MaxCommentLen); err != nil {
		return nil, nil, err
	}
	r, err := tx.FindRelease(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if digest != r.Digest {
		return nil, nil, shipgate.Errorf(shipgate.ECONFLICT, "release %d has digest %s, not %s: look at the release again before deciding", id, r.Digest, digest)
	}
	if err := shipgate.CheckApprover(r, u, decision); err != nil {
		return nil, nil, err
	}
	if r.State != shipgate.StatePendingApproval {
		return nil, nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is %s, not waiting for approval", id, r.State)
	}
	a := &shipgate.Approval{ReleaseID: id, Actor: u.Name, Decision: decision, Digest: digest, Comment: comment, CreatedAt: tx.now}
	if exp := r.Policy.Approvals.ExpiresAfter; decision == shipgate.DecisionApprove && exp > 0 {
		t := tx.now.Add(exp.Std())
		a.ExpiresAt = &t
	}
	if err := tx.queryRow(ctx, `INSERT INTO approvals (release_id, actor, decision, digest, comment, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		id, a.Actor, a.Decision, a.Digest, a.Comment, micros(a.CreatedAt), microsPtr(a.ExpiresAt)).Scan(&a.ID); err != nil {
		return nil, nil, err
	}
	details := map[string]any{"digest": digest, "comment": comment, "approval_id": a.ID}
	action := shipgate.ActionReleaseApproved
	if decision == shipgate.DecisionReject {
		action = shipgate.ActionReleaseRejected
		r.State, r.Reason, r.WaitUntil = shipgate.StateRejected, "rejected by "+u.Name, nil
		if comment != "" {
			r.Reason += ": " + comment
		}
		now := tx.now
		r.FinishedAt = &now
		if err := tx.UpdateRelease(ctx, r); err != nil {
			return nil, nil, err
		}
	} else {
		if a.ExpiresAt != nil {
			details["expires_at"] = a.ExpiresAt.Format(time.RFC3339Nano)
		}
	}
	return a, r, tx.Audit(ctx, shipgate.NewAuditEvent(u.Name, action, releaseSubject(id), details))
}

// ListApprovals returns the decisions on a release, oldest first.
func (tx *Tx) ListApprovals(ctx context.Context, releaseID int64) ([]shipgate.Approval, error) {
	rows, err := tx.query(ctx, `SELECT id, actor, decision, digest, comment, created_at, expires_at, expired_at FROM approvals WHERE release_id = ? ORDER BY id`, releaseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.Approval{}
	for rows.Next() {
		a := shipgate.Approval{ReleaseID: releaseID}
		var created int64
		var expires, expired sql.NullInt64
		if err := rows.Scan(&a.ID, &a.Actor, &a.Decision, &a.Digest, &a.Comment, &created, &expires, &expired); err != nil {
			return nil, err
		}
		a.CreatedAt, a.ExpiresAt, a.ExpiredAt = fromMicros(created), fromNullMicros(expires), fromNullMicros(expired)
		out = append(out, a)
	}
	return out, rows.Err()
}

// MarkApprovalExpired records that an approval stopped counting. The
// caller audits it together with whatever else the expiry changes.
func (tx *Tx) MarkApprovalExpired(ctx context.Context, id int64) error {
	_, err := tx.exec(ctx, `UPDATE approvals SET expired_at = ? WHERE id = ? AND expired_at IS NULL`, micros(tx.now), id)
	return err
}

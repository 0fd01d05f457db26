package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// insertApproval records a decision; it sets a.ID.
func (tx *Tx) insertApproval(ctx context.Context, a *shipgate.Approval) error {
	return tx.queryRow(ctx, `INSERT INTO approvals (release_id, actor, decision, digest, comment, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.ReleaseID, a.Actor, a.Decision, a.Digest, a.Comment, micros(a.CreatedAt), microsPtr(a.ExpiresAt)).Scan(&a.ID)
}

// ListApprovals returns the decisions on a release, oldest first.
func (tx *Tx) ListApprovals(ctx context.Context, releaseID int64) ([]shipgate.Approval, error) {
	rows, err := tx.query(ctx, `SELECT id, actor, decision, digest, comment, created_at, expires_at, expired_at, withdrawn_at, withdrawn_reason FROM approvals WHERE release_id = ? ORDER BY id`, releaseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.Approval{}
	for rows.Next() {
		a := shipgate.Approval{ReleaseID: releaseID}
		var created int64
		var expires, expired, withdrawn sql.NullInt64
		if err := rows.Scan(&a.ID, &a.Actor, &a.Decision, &a.Digest, &a.Comment, &created, &expires, &expired, &withdrawn, &a.WithdrawnReason); err != nil {
			return nil, err
		}
		a.CreatedAt, a.ExpiresAt, a.ExpiredAt, a.WithdrawnAt = fromMicros(created), fromNullMicros(expires), fromNullMicros(expired), fromNullMicros(withdrawn)
		out = append(out, a)
	}
	return out, rows.Err()
}

// markApprovalExpired records that an approval stopped counting. The
// caller audits it together with whatever else the expiry changes.
func (tx *Tx) markApprovalExpired(ctx context.Context, id int64) error {
	_, err := tx.exec(ctx, `UPDATE approvals SET expired_at = ? WHERE id = ? AND expired_at IS NULL`, micros(tx.now), id)
	return err
}

// ApproverView returns r as CheckApprover needs it. A release created
// before shipgate froze group membership into releases has no
// ApproverGroups; for it the members that count are those whose current
// membership began no later than the release's creation (a copy of r is
// returned with them, its stored content untouched). Joining after the
// release never counts, as for newer releases.
func (tx *Tx) ApproverView(ctx context.Context, r *shipgate.Release) (*shipgate.Release, error) {
	groups := r.Policy.Approvals.FromGroups
	if len(groups) == 0 || r.ApproverGroups != nil {
		return r, nil
	}
	members, err := tx.groupMembers(ctx, groups, &r.CreatedAt, false)
	if err != nil {
		return nil, err
	}
	v := *r
	v.ApproverGroups = shipgate.FreezeApprovers(r.Policy.Approvals, members)
	return &v, nil
}

// groupMembers returns the members of groups, only those who joined no
// later than *before if it is given, only enabled users if enabledOnly.
func (tx *Tx) groupMembers(ctx context.Context, groups []string, before *time.Time, enabledOnly bool) (map[string][]string, error) {
	q := `SELECT gm.group_name, gm.user_name FROM group_members gm JOIN users u ON u.name = gm.user_name
		WHERE gm.group_name IN (?` + strings.Repeat(", ?", len(groups)-1) + `)`
	args := make([]any, 0, len(groups)+1)
	for _, g := range groups {
		args = append(args, g)
	}
	if before != nil {
		q += ` AND gm.added_at <= ?`
		args = append(args, micros(*before))
	}
	if enabledOnly {
		q += ` AND u.disabled_at IS NULL`
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var g, u string
		if err := rows.Scan(&g, &u); err != nil {
			return nil, err
		}
		out[g] = append(out[g], u)
	}
	return out, rows.Err()
}

// withdrawApprovals withdraws u's approvals that no longer hold now that u
// changed (disabled, out of a group, without the approver role): those on
// releases that could still start a run (pending, queued, running — for a
// later rerun — and failed) that CheckApprover would refuse today. Each is
// audited as approval.withdrawn with why, in the caller's transaction, and
// stays withdrawn whatever happens to u later. It returns the releases
// touched, for the caller to plan again.
func (tx *Tx) withdrawApprovals(ctx context.Context, actor string, u *shipgate.User, why string) ([]int64, error) {
	rows, err := tx.query(ctx, `SELECT a.id, a.release_id FROM approvals a JOIN releases r ON r.id = a.release_id
		WHERE a.actor = ? AND a.decision = ? AND a.withdrawn_at IS NULL AND a.expired_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > ?)
		AND r.state IN (?, ?, ?, ?) ORDER BY a.id`,
		u.Name, shipgate.DecisionApprove, micros(tx.now),
		shipgate.StatePendingApproval, shipgate.StateQueued, shipgate.StateRunning, shipgate.StateFailed)
	if err != nil {
		return nil, err
	}
	byRelease := map[int64][]int64{}
	var releases []int64
	for rows.Next() {
		var id, rel int64
		if err := rows.Scan(&id, &rel); err != nil {
			rows.Close()
			return nil, err
		}
		if byRelease[rel] == nil {
			releases = append(releases, rel)
		}
		byRelease[rel] = append(byRelease[rel], id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var touched []int64
	for _, rel := range releases {
		r, err := tx.FindRelease(ctx, rel)
		if err != nil {
			return nil, err
		}
		view, err := tx.ApproverView(ctx, r)
		if err != nil {
			return nil, err
		}
		rule := shipgate.CheckApprover(view, u, shipgate.DecisionApprove)
		if rule == nil {
			continue // this approval still holds
		}
		for _, id := range byRelease[rel] {
			if _, err := tx.exec(ctx, `UPDATE approvals SET withdrawn_at = ?, withdrawn_reason = ? WHERE id = ?`, micros(tx.now), why, id); err != nil {
				return nil, err
			}
			if err := tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionApprovalWithdrawn, shipgate.ReleaseSubject(rel), map[string]any{
				"approval_id": id, "approver": u.Name, "reason": why, "rule": shipgate.ErrorMessage(rule),
			})); err != nil {
				return nil, err
			}
		}
		touched = append(touched, rel)
	}
	return touched, nil
}

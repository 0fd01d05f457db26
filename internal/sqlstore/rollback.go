package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"strings"

	"github.com/shipgate/shipgate"
)

// FindRollback returns the rollback of a release.
func (tx *Tx) FindRollback(ctx context.Context, releaseID int64) (*shipgate.Rollback, error) {
	rb := &shipgate.Rollback{ReleaseID: releaseID}
	var target, rollbackRelease, fires sql.NullInt64
	var created, updated int64
	err := tx.queryRow(ctx, `SELECT state, reason, triggered_by, target_id, target_version, fires_at, rollback_release, requested_by, request_reason, held_by, hold_reason, created_at, updated_at FROM rollbacks WHERE release_id = ?`, releaseID).
		Scan(&rb.State, &rb.Reason, &rb.TriggeredBy, &target, &rb.TargetVersion, &fires, &rollbackRelease, &rb.RequestedBy, &rb.RequestReason, &rb.HeldBy, &rb.HoldReason, &created, &updated)
	if err != nil {
		return nil, notFound(err, "release %d has no rollback", releaseID)
	}
	rb.TargetID, rb.RollbackRelease = target.Int64, rollbackRelease.Int64
	rb.FiresAt, rb.CreatedAt, rb.UpdatedAt = fromNullMicros(fires), fromMicros(created), fromMicros(updated)
	return rb, nil
}

// putRollback creates or updates the rollback of a release.
func (tx *Tx) putRollback(ctx context.Context, rb *shipgate.Rollback) error {
	nullable := func(v int64) any {
		if v == 0 {
			return nil
		}
		return v
	}
	res, err := tx.exec(ctx, `UPDATE rollbacks SET state = ?, reason = ?, triggered_by = ?, target_id = ?, target_version = ?, fires_at = ?, rollback_release = ?,
		requested_by = ?, request_reason = ?, held_by = ?, hold_reason = ?, updated_at = ? WHERE release_id = ?`,
		rb.State, rb.Reason, rb.TriggeredBy, nullable(rb.TargetID), rb.TargetVersion, microsPtr(rb.FiresAt), nullable(rb.RollbackRelease),
		rb.RequestedBy, rb.RequestReason, rb.HeldBy, rb.HoldReason, micros(tx.now), rb.ReleaseID)
	if err != nil {
		return fmt.Errorf("update rollback: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		rb.UpdatedAt = tx.now
		return nil
	}
	rb.CreatedAt, rb.UpdatedAt = tx.now, tx.now
	_, err = tx.exec(ctx, `INSERT INTO rollbacks (release_id, state, reason, triggered_by, target_id, target_version, fires_at, rollback_release,
		requested_by, request_reason, held_by, hold_reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rb.ReleaseID, rb.State, rb.Reason, rb.TriggeredBy, nullable(rb.TargetID), rb.TargetVersion, microsPtr(rb.FiresAt), nullable(rb.RollbackRelease),
		rb.RequestedBy, rb.RequestReason, rb.HeldBy, rb.HoldReason, micros(tx.now), micros(tx.now))
	return err
}

// findOne returns the newest release matching where; when there is none,
// a not_found error saying absent (never a nil release with a nil error).
func (tx *Tx) findOne(ctx context.Context, absent string, where string, args ...any) (*shipgate.Release, error) {
	r, err := scanRelease(tx.queryRow(ctx, `SELECT `+releaseColumns+` FROM releases WHERE `+where+` ORDER BY id DESC LIMIT 1`, args...))
	if err != nil {
		return nil, notFound(err, "%s", absent)
	}
	return r, nil
}

// LastSuccessful returns the newest release of the service that succeeded
// in env and still stands (a release that was rolled back does not), other
// than cur and not deploying the same thing as cur (same version, artifact
// and inputs): rolling back to what is already deployed would change
// nothing. not_found, saying so, when there is none.
func (tx *Tx) LastSuccessful(ctx context.Context, service, env string, cur *shipgate.Release) (*shipgate.Release, error) {
	var before int64
	for {
		page, err := tx.ListReleases(ctx, shipgate.ReleaseFilter{Service: service, Environment: env, States: []shipgate.ReleaseState{shipgate.StateSucceeded}, Limit: 100, BeforeID: before})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return nil, shipgate.Errorf(shipgate.ENOTFOUND, "no earlier release of %s succeeded in %s", service, env)
		}
		for _, r := range page {
			if r.ID != cur.ID && !sameDeployment(r, cur) {
				return r, nil
			}
		}
		before = page[len(page)-1].ID
	}
}

// sameDeployment reports whether two releases put the same thing in place.
func sameDeployment(a, b *shipgate.Release) bool {
	return a.Version == b.Version && a.Artifact.SHA256 == b.Artifact.SHA256 &&
		maps.Equal(a.Inputs, b.Inputs) && maps.Equal(a.SecretInputs, b.SecretInputs)
}

// SucceededVersion returns the newest release of version that succeeded in
// env; not_found when there is none.
func (tx *Tx) SucceededVersion(ctx context.Context, service, env, version string) (*shipgate.Release, error) {
	return tx.findOne(ctx, NeverSucceededHere(version, env),
		`service = ? AND environment = ? AND version = ? AND succeeded_at IS NOT NULL`, service, env, version)
}

// AnyReleaseOfVersion returns the newest release of version; not_found
// when the service never released it.
func (tx *Tx) AnyReleaseOfVersion(ctx context.Context, service, version string) (*shipgate.Release, error) {
	return tx.findOne(ctx, fmt.Sprintf("service %q has never released version %q", service, version),
		`service = ? AND version = ?`, service, version)
}

// OpenRollbackIDs lists releases whose rollback waits for its moment.
func (tx *Tx) OpenRollbackIDs(ctx context.Context) ([]int64, error) {
	rows, err := tx.query(ctx, `SELECT release_id FROM rollbacks WHERE state = ? ORDER BY release_id`, shipgate.RollbackPending)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// CurrentRelease returns the release a manual rollback of env replaces:
// the newest one that ended succeeded, or failed (other than a failed
// rollback release).
func (tx *Tx) CurrentRelease(ctx context.Context, service, env string) (*shipgate.Release, error) {
	// A rollback release that failed changed nothing for good: the release
	// it tried to roll back is still the one to roll back.
	r, err := tx.findOne(ctx, "no finished release", `service = ? AND environment = ? AND (state = ? OR (state = ? AND kind <> ?))`,
		service, env, shipgate.StateSucceeded, shipgate.StateFailed, shipgate.ReleaseKindRollback)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "service %q has no finished release in %s to roll back", service, env)
	}
	return r, err
}

// StoreProbes keeps probe results of a check attempt; repeats (same seq)
// are ignored.
func (tx *Tx) StoreProbes(ctx context.Context, jobID int64, attempt int, probes []shipgate.ProbeResult) error {
	for _, pr := range probes {
		ok, watch := 0, 0
		if pr.OK {
			ok = 1
		}
		if pr.Watch {
			watch = 1
		}
		if _, err := tx.exec(ctx, `INSERT INTO probes (job_id, attempt, seq, at, latency_ms, ok, reason, watch) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, attempt, seq) DO NOTHING`,
			jobID, attempt, pr.Seq, micros(pr.At), pr.LatencyMS, ok, clipText(pr.Reason, 500), watch); err != nil {
			return err
		}
	}
	return nil
}

// JobProbes is the probes of one job of a run.
type JobProbes struct {
	Job     string                 `json:"job"`
	Attempt int                    `json:"attempt"`
	Probes  []shipgate.ProbeResult `json:"probes"`
}

// ListProbes returns the probes of a release's run, per job and attempt,
// at most limit per attempt (the latest ones).
func (tx *Tx) ListProbes(ctx context.Context, releaseID int64, run, limit int) ([]JobProbes, error) {
	rows, err := tx.query(ctx, `SELECT j.name, p.attempt, p.seq, p.at, p.latency_ms, p.ok, p.reason, p.watch FROM probes p JOIN jobs j ON j.id = p.job_id
		WHERE j.release_id = ? AND j.run = ? ORDER BY j.position, p.attempt, p.seq`, releaseID, run)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobProbes
	for rows.Next() {
		var name string
		var attempt, ok, watch int
		var pr shipgate.ProbeResult
		var at int64
		if err := rows.Scan(&name, &attempt, &pr.Seq, &at, &pr.LatencyMS, &ok, &pr.Reason, &watch); err != nil {
			return nil, err
		}
		pr.At, pr.OK, pr.Watch = fromMicros(at), ok != 0, watch != 0
		if n := len(out); n == 0 || out[n-1].Job != name || out[n-1].Attempt != attempt {
			out = append(out, JobProbes{Job: name, Attempt: attempt})
		}
		last := &out[len(out)-1]
		last.Probes = append(last.Probes, pr)
		if limit > 0 && len(last.Probes) > limit {
			last.Probes = last.Probes[1:]
		}
	}
	return out, rows.Err()
}

func clipText(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// OpenRollbacksBefore returns the open (pending or held) rollbacks of
// releases of r's service and environment older than r: starting r
// supersedes them.
func (tx *Tx) OpenRollbacksBefore(ctx context.Context, r *shipgate.Release) ([]shipgate.Rollback, error) {
	rows, err := tx.query(ctx, `SELECT b.release_id FROM rollbacks b JOIN releases r ON r.id = b.release_id
		WHERE r.service = ? AND r.environment = ? AND r.id < ? AND b.state IN (?, ?) ORDER BY b.release_id`,
		r.Service, r.Environment, r.ID, shipgate.RollbackPending, shipgate.RollbackHeld)
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
	var out []shipgate.Rollback
	for _, id := range ids {
		rb, err := tx.FindRollback(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *rb)
	}
	return out, nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/shipgate/shipgate"
)

// insertJobs stores the jobs of a new run as the decider planned them
// (every job of r's pipeline, in pipeline order); it sets their IDs.
func (tx *Tx) insertJobs(ctx context.Context, r *shipgate.Release, jobs []shipgate.JobRun) error {
	for i := range jobs {
		jr := &jobs[i]
		spec, ok := r.Pipeline.Job(jr.Name)
		if !ok {
			return fmt.Errorf("insert job %s: not in the pipeline of release %d", jr.Name, r.ID)
		}
		labels, err := json.Marshal(spec.RunsOn)
		if err != nil {
			return err
		}
		jr.ReleaseID = r.ID
		if err := tx.queryRow(ctx, `INSERT INTO jobs (release_id, run, name, position, state, runs_on, attempt, max_attempts) VALUES (?, ?, ?, ?, ?, ?, 0, ?) RETURNING id`,
			r.ID, jr.Run, jr.Name, i, jr.State, string(labels), jr.MaxAttempts).Scan(&jr.ID); err != nil {
			return fmt.Errorf("insert job %s: %w", jr.Name, err)
		}
	}
	return nil
}

const jobColumns = `id, release_id, run, name, state, attempt, max_attempts, runner, claim_id, lease_until, exit_code, reason, cause, queued_at, started_at, finished_at, log_truncated`

func scanJob(sc interface{ Scan(...any) error }) (shipgate.JobRun, error) {
	var j shipgate.JobRun
	var lease, queued, started, finished sql.NullInt64
	var exit sql.NullInt64
	if err := sc.Scan(&j.ID, &j.ReleaseID, &j.Run, &j.Name, &j.State, &j.Attempt, &j.MaxAttempts, &j.Runner, &j.ClaimID, &lease, &exit, &j.Reason, &j.Cause, &queued, &started, &finished, &j.LogTruncated); err != nil {
		return j, err
	}
	j.LeaseUntil, j.QueuedAt, j.StartedAt, j.FinishedAt = fromNullMicros(lease), fromNullMicros(queued), fromNullMicros(started), fromNullMicros(finished)
	if exit.Valid {
		c := int(exit.Int64)
		j.ExitCode = &c
	}
	return j, nil
}

// ListJobs returns the jobs of one run in pipeline order.
func (tx *Tx) ListJobs(ctx context.Context, releaseID int64, run int) ([]shipgate.JobRun, error) {
	rows, err := tx.queryRows(ctx, `SELECT `+jobColumns+` FROM jobs WHERE release_id = ? AND run = ? ORDER BY position`, releaseID, run)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.JobRun{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// FindJob returns one job by id.
func (tx *Tx) FindJob(ctx context.Context, id int64) (shipgate.JobRun, error) {
	j, err := scanJob(tx.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return j, notFound(err, "job %d does not exist", id)
	}
	return j, nil
}

// FindAttempt returns the job named by an attempt key.
func (tx *Tx) FindAttempt(ctx context.Context, k shipgate.AttemptKey) (shipgate.JobRun, error) {
	j, err := scanJob(tx.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE release_id = ? AND run = ? AND name = ?`, k.ReleaseID, k.Run, k.Job))
	if err != nil {
		return j, notFound(err, "job %s of release %d run %d does not exist", k.Job, k.ReleaseID, k.Run)
	}
	return j, nil
}

// updateJob writes the mutable fields of a job.
func (tx *Tx) updateJob(ctx context.Context, j *shipgate.JobRun) error {
	var exit any
	if j.ExitCode != nil {
		exit = *j.ExitCode
	}
	_, err := tx.exec(ctx, `UPDATE jobs SET state = ?, attempt = ?, max_attempts = ?, runner = ?, claim_id = ?, lease_until = ?, exit_code = ?, reason = ?, cause = ?, queued_at = ?, started_at = ?, finished_at = ? WHERE id = ?`,
		j.State, j.Attempt, j.MaxAttempts, j.Runner, j.ClaimID, microsPtr(j.LeaseUntil), exit, j.Reason, j.Cause, microsPtr(j.QueuedAt), microsPtr(j.StartedAt), microsPtr(j.FinishedAt), j.ID)
	if err != nil {
		return fmt.Errorf("update job %d: %w", j.ID, err)
	}
	return nil
}

// FindClaim returns the running job that runner claimed with claimID, if
// any: the answer to a claim that is being retried.
func (tx *Tx) FindClaim(ctx context.Context, runner, claimID string) (shipgate.JobRun, bool, error) {
	j, err := scanJob(tx.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE state = ? AND runner = ? AND claim_id = ?`, shipgate.JobRunning, runner, claimID))
	if err == sql.ErrNoRows {
		return j, false, nil
	}
	return j, err == nil, err
}

// HeldBy returns the running jobs whose attempt runner holds.
func (tx *Tx) HeldBy(ctx context.Context, runner string) ([]shipgate.JobRun, error) {
	rows, err := tx.queryRows(ctx, `SELECT `+jobColumns+` FROM jobs WHERE state = ? AND runner = ? ORDER BY id`, shipgate.JobRunning, runner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shipgate.JobRun
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// QueuedJob is a job waiting for a runner, with the labels it asks for and
// its release's environment (a runner may be limited to some).
type QueuedJob struct {
	ID          int64
	ReleaseID   int64
	Environment string
	RunsOn      map[string]string
	Cursor      QueueCursor
}

// QueueCursor is a position in the queue, which is ordered by the time jobs
// were queued; the zero value is its start.
type QueueCursor struct {
	QueuedAt int64
	ID       int64
}

// ListQueuedJobs returns up to limit queued jobs after cursor, oldest first.
func (tx *Tx) ListQueuedJobs(ctx context.Context, after QueueCursor, limit int) ([]QueuedJob, error) {
	rows, err := tx.queryRows(ctx, `SELECT j.id, j.release_id, r.environment, j.runs_on, j.queued_at FROM jobs j JOIN releases r ON r.id = j.release_id
		WHERE j.state = ? AND (j.queued_at > ? OR (j.queued_at = ? AND j.id > ?))
		ORDER BY j.queued_at, j.id LIMIT ?`, shipgate.JobQueued, after.QueuedAt, after.QueuedAt, after.ID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []QueuedJob
	for rows.Next() {
		var q QueuedJob
		var labels string
		if err := rows.Scan(&q.ID, &q.ReleaseID, &q.Environment, &labels, &q.Cursor.QueuedAt); err != nil {
			return nil, err
		}
		q.Cursor.ID = q.ID
		// Most jobs ask for no labels: no need to decode them.
		if labels != "{}" && labels != "null" {
			if err := json.Unmarshal([]byte(labels), &q.RunsOn); err != nil {
				return nil, fmt.Errorf("decode runs_on of job %d: %w", q.ID, err)
			}
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// AppendLogs stores log chunks of one attempt. A chunk whose seq was stored
// before is ignored, so a runner may resend after a lost response. The job's
// log is kept within maxBytes (0: unbounded) by dropping its oldest chunks;
// what was dropped is counted, and readers see a marker in its place.
func (tx *Tx) AppendLogs(ctx context.Context, jobID int64, attempt int, chunks []shipgate.LogChunk, maxBytes int64) error {
	var added int64
	var highAttempt int
	var high int64
	if err := tx.queryRow(ctx, `SELECT log_attempt, log_seq FROM jobs WHERE id = ?`, jobID).Scan(&highAttempt, &high); err != nil {
		return notFound(err, "job %d does not exist", jobID)
	}
	if highAttempt != attempt {
		high = 0
	}
	newHigh := high
	for _, c := range chunks {
		if c.Seq <= high {
			continue // stored before, even if the log's front was dropped since
		}
		newHigh = max(newHigh, c.Seq)
		res, err := tx.exec(ctx, `INSERT INTO job_logs (job_id, attempt, seq, stream, data, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, attempt, seq) DO NOTHING`,
			jobID, attempt, c.Seq, c.Stream, c.Data, micros(c.At))
		if err != nil {
			return fmt.Errorf("append log: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			added += int64(len(c.Data))
		}
	}
	if newHigh == high && added == 0 {
		return nil
	}
	var size int64
	if err := tx.queryRow(ctx, `UPDATE jobs SET log_bytes = log_bytes + ?, log_attempt = ?, log_seq = ? WHERE id = ? RETURNING log_bytes`, added, attempt, newHigh, jobID).Scan(&size); err != nil {
		return err
	}
	if maxBytes <= 0 || size <= maxBytes {
		return nil
	}
	// Drop whole chunks from the front until the log fits.
	rows, err := tx.query(ctx, `SELECT id, `+fmt.Sprintf(tx.db.dialect.byteLength, "data")+` FROM job_logs WHERE job_id = ? ORDER BY id`, jobID)
	if err != nil {
		return err
	}
	var cut, dropped int64
	for rows.Next() && size-dropped > maxBytes {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return err
		}
		cut, dropped = id, dropped+n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `DELETE FROM job_logs WHERE job_id = ? AND id <= ?`, jobID, cut); err != nil {
		return err
	}
	_, err = tx.exec(ctx, `UPDATE jobs SET log_bytes = log_bytes - ?, log_truncated = log_truncated + ? WHERE id = ?`, dropped, dropped, jobID)
	return err
}

// ListLogs returns log chunks of a release's run after cursor, optionally
// of one job, in the order they were stored.
func (tx *Tx) ListLogs(ctx context.Context, releaseID int64, run int, job string, after int64, limit int) ([]shipgate.LogChunk, error) {
	q := `SELECT l.id, l.job_id, j.name, l.attempt, l.seq, l.stream, l.data, l.at FROM job_logs l JOIN jobs j ON j.id = l.job_id
		WHERE j.release_id = ? AND j.run = ? AND l.id > ?`
	args := []any{releaseID, run, after}
	if job != "" {
		q += ` AND j.name = ?`
		args = append(args, job)
	}
	if limit <= 0 || limit > 5000 {
		limit = 1000
	}
	q += ` ORDER BY l.id LIMIT ?`
	args = append(args, limit)
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.LogChunk{}
	for rows.Next() {
		var c shipgate.LogChunk
		var at int64
		if err := rows.Scan(&c.Cursor, &c.JobID, &c.Job, &c.Attempt, &c.Seq, &c.Stream, &c.Data, &at); err != nil {
			return nil, err
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// attachProbes puts a failed check's last probes into its audit event, so
// the timeline shows the evidence the release failed on.
func attachProbes(ctx context.Context, tx *sqlstore.Tx, j shipgate.JobRun, details map[string]any) error {
	probes, err := tx.ListProbes(ctx, j.ReleaseID, j.Run, 10)
	if err != nil {
		return err
	}
	for _, jp := range probes {
		if jp.Job != j.Name || jp.Attempt != j.Attempt {
			continue
		}
		var list []map[string]any
		for _, p := range jp.Probes {
			list = append(list, map[string]any{"seq": p.Seq, "at": p.At.Format(time.RFC3339Nano), "ok": p.OK, "latency_ms": p.LatencyMS, "reason": p.Reason})
		}
		details["probes"] = list
	}
	return nil
}

// Held lists the attempts runner holds, so a restarted runner can settle
// each one from its journal.
func (d *Dispatcher) Held(ctx context.Context, runner string) ([]shipgate.HeldAttempt, error) {
	out := []shipgate.HeldAttempt{}
	err := d.DB.View(ctx, func(tx *sqlstore.Tx) error {
		jobs, err := tx.HeldBy(ctx, runner)
		for _, j := range jobs {
			out = append(out, shipgate.HeldAttempt{Key: shipgate.AttemptKey{ReleaseID: j.ReleaseID, Run: j.Run, Job: j.Name, Attempt: j.Attempt}, ClaimID: j.ClaimID})
		}
		return err
	})
	return out, err
}

// Probes stores probe results of a check attempt the runner holds or
// held. recovered says the check passed again after failing: a pending
// rollback of its release is then called off. The reply tells a runner
// watching a failed check whether the rollback still waits.
func (d *Dispatcher) Probes(ctx context.Context, runner string, key shipgate.AttemptKey, probes []shipgate.ProbeResult, recovered bool) (shipgate.ProbeReply, error) {
	var reply shipgate.ProbeReply
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		if err := tx.StoreProbes(ctx, j.ID, key.Attempt, probes); err != nil {
			return err
		}
		if j.State == shipgate.JobRunning {
			return nil
		}
		r, err := tx.FindRelease(ctx, key.ReleaseID)
		if err != nil {
			return err
		}
		if !r.State.Final() {
			return nil // other jobs still run; the rollback is not decided yet
		}
		if recovered {
			if _, err := tx.CallOffRollback(ctx, key.ReleaseID, fmt.Sprintf("health check %s recovered: it passed again after failing, before the rollback fired", j.Name)); err != nil {
				return err
			}
		}
		rb, err := tx.FindRollback(ctx, key.ReleaseID)
		reply.Stop = err != nil || rb.State != shipgate.RollbackPending
		return nil
	})
	return reply, err
}

// current loads the job of key and checks that runner holds that attempt.
func current(ctx context.Context, tx *sqlstore.Tx, runner string, key shipgate.AttemptKey) (shipgate.JobRun, error) {
	j, err := tx.FindAttempt(ctx, key)
	if err != nil {
		return j, err
	}
	if j.Attempt != key.Attempt || j.Runner != runner {
		return j, shipgate.Errorf(shipgate.ECONFLICT, "attempt %d of job %s is not held by runner %s (current attempt %d on %q)", key.Attempt, key.Job, runner, j.Attempt, j.Runner)
	}
	return j, nil
}

// Heartbeat extends the lease of a running attempt, or tells the runner to
// stop it.
func (d *Dispatcher) Heartbeat(ctx context.Context, runner string, key shipgate.AttemptKey) (shipgate.HeartbeatReply, error) {
	var reply shipgate.HeartbeatReply
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if shipgate.ErrorCode(err) == shipgate.ECONFLICT {
			reply = shipgate.HeartbeatReply{Cancel: true, Reason: shipgate.ErrorMessage(err)}
			return nil
		} else if err != nil {
			return err
		}
		if j.State != shipgate.JobRunning {
			reply = shipgate.HeartbeatReply{Cancel: true, Reason: fmt.Sprintf("job is %s: %s", j.State, j.Reason)}
			return nil
		}
		lease := tx.Now().Add(d.LeaseTTL)
		j.LeaseUntil = &lease
		reply.LeaseUntil = lease
		return tx.UpdateJob(ctx, &j)
	})
	return reply, err
}

// AppendLogs stores log chunks of an attempt the runner holds or held.
func (d *Dispatcher) AppendLogs(ctx context.Context, runner string, key shipgate.AttemptKey, chunks []shipgate.LogChunk) error {
	for _, c := range chunks {
		if len(c.Data) > MaxLogChunk {
			return shipgate.Errorf(shipgate.ETOOLARGE, "log chunk %d is %d bytes; the limit is %d", c.Seq, len(c.Data), MaxLogChunk)
		}
	}
	return d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		return tx.AppendLogs(ctx, j.ID, key.Attempt, chunks, d.MaxJobLogBytes)
	})
}

// Finish records the outcome of an attempt. A failed attempt with attempts
// left is queued again. Reporting the same outcome twice is harmless.
func (d *Dispatcher) Finish(ctx context.Context, runner string, key shipgate.AttemptKey, out shipgate.JobOutcome) error {
	ended := false
	reconcileRelease := func(tx *sqlstore.Tx) error {
		if _, _, err := Release(ctx, tx, key.ReleaseID); err != nil {
			return err
		}
		r, err := tx.FindRelease(ctx, key.ReleaseID)
		ended = err == nil && r.State.Final()
		return err
	}
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		now := tx.Now()
		details := map[string]any{"job": j.Name, "run": j.Run, "attempt": j.Attempt, "runner": runner, "reason": out.Reason}
		if out.ExitCode != nil {
			details["exit_code"] = *out.ExitCode
		}
		if j.StartedAt != nil {
			details["duration_ms"] = now.Sub(*j.StartedAt).Milliseconds()
		}
		switch {
		case j.State == shipgate.JobCancelled:
			if j.ExitCode != nil {
				return nil // already reported
			}
			code := -1 // stopped by a signal; -1 also marks the report as received
			if out.ExitCode != nil {
				code = *out.ExitCode
			}
			j.ExitCode = &code
			details["state"] = shipgate.JobCancelled
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
			return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobFinished, shipgate.ReleaseSubject(key.ReleaseID), details))
		case j.State == shipgate.JobQueued && out.Succeeded && !out.NotStarted:
			// The lease ran out (or the attempt was handed back) before this
			// report arrived, but the attempt did succeed: take the result
			// rather than run the job again.
			details["late"] = true
			j.State, j.Reason, j.Cause = shipgate.JobSucceeded, "", ""
		case j.State == shipgate.JobFailed && j.Cause == shipgate.JobCauseLost && !out.NotStarted:
			return shipgate.Errorf(shipgate.ECONFLICT, "the outcome of attempt %d arrived after its lease expired; the job was already failed as lost (%s)", j.Attempt, j.Reason)
		case j.State != shipgate.JobRunning:
			return nil // a repeated report, or a failure whose retry is already queued
		case out.NotStarted && !out.Succeeded:
			// Nothing ran: queue it again without using up a retry, unless it
			// keeps coming back (a runner that cannot start anything).
			r, err := tx.FindRelease(ctx, key.ReleaseID)
			if err != nil {
				return err
			}
			base := j.MaxAttempts
			if spec, ok := r.Pipeline.Job(j.Name); ok {
				base = spec.MaxAttempts()
			}
			if j.MaxAttempts-base >= maxHandBacks {
				j.State, j.Reason, j.Cause = shipgate.JobFailed, fmt.Sprintf("handed back unstarted %d times; last: %s", maxHandBacks+1, out.Reason), shipgate.JobCauseNotStarted
				break
			}
			j.MaxAttempts++
			j.State, j.Reason, j.Cause, j.QueuedAt, j.LeaseUntil = shipgate.JobQueued, fmt.Sprintf("attempt %d was never started: %s", j.Attempt, out.Reason), shipgate.JobCauseNotStarted, &now, nil
			details["state"], details["not_started"] = "requeued", true
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
			if err := tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobRetry, shipgate.ReleaseSubject(key.ReleaseID), details)); err != nil {
				return err
			}
			return reconcileRelease(tx)
		case out.Succeeded:
			j.State, j.Reason, j.Cause = shipgate.JobSucceeded, "", ""
		case j.MayRetry():
			j.State, j.Reason, j.Cause, j.QueuedAt = shipgate.JobQueued, fmt.Sprintf("attempt %d failed: %s; retrying", j.Attempt, out.Reason), shipgate.JobCauseStepFailed, &now
			details["state"] = "retrying"
			j.ExitCode, j.LeaseUntil = out.ExitCode, nil
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return err
			}
			if err := tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobRetry, shipgate.ReleaseSubject(key.ReleaseID), details)); err != nil {
				return err
			}
			return reconcileRelease(tx)
		default:
			j.State, j.Reason, j.Cause = shipgate.JobFailed, out.Reason, shipgate.JobCauseStepFailed
		}
		details["state"] = j.State
		if j.State == shipgate.JobFailed {
			if err := attachProbes(ctx, tx, j, details); err != nil {
				return err
			}
		}
		j.ExitCode, j.LeaseUntil, j.FinishedAt = out.ExitCode, nil, &now
		if err := tx.UpdateJob(ctx, &j); err != nil {
			return err
		}
		if err := tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionJobFinished, shipgate.ReleaseSubject(key.ReleaseID), details)); err != nil {
			return err
		}
		return reconcileRelease(tx)
	})
	if err == nil {
		d.Work.Notify()
		// This release was reconciled in the transaction; a release that
		// ended may let the next one of its environment start.
		if ended && d.Reconciler != nil {
			d.Reconciler.Kick()
		}
	}
	return err
}

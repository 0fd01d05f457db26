package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/decide"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// lastProbes returns the last probes of a check's attempt, for the audit
// event of its failure: the timeline shows the evidence the release
// failed on. nil when the attempt has none.
func lastProbes(ctx context.Context, tx *sqlstore.Tx, j shipgate.JobRun) ([]map[string]any, error) {
	probes, err := tx.ListProbes(ctx, j.ReleaseID, j.Run, 10)
	if err != nil {
		return nil, err
	}
	var list []map[string]any
	for _, jp := range probes {
		if jp.Job != j.Name || jp.Attempt != j.Attempt {
			continue
		}
		for _, p := range jp.Probes {
			list = append(list, map[string]any{"seq": p.Seq, "at": p.At.Format(time.RFC3339Nano), "ok": p.OK, "latency_ms": p.LatencyMS, "reason": p.Reason})
		}
	}
	return list, nil
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
			obs, err := observeRelease(ctx, tx, key.ReleaseID, false)
			if err != nil {
				return err
			}
			plan, err := decide.Decide(obs, decide.Recovered{Job: j.Name}, tx.Now())
			if err != nil {
				return err
			}
			if err := Apply(ctx, tx, &plan); err != nil {
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
		reply.LeaseUntil = lease
		return tx.ExtendLease(ctx, &j, lease)
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
// Reports arriving together are written in one transaction (see
// finishQueue); Finish returns once its report is committed or refused.
func (d *Dispatcher) Finish(ctx context.Context, runner string, key shipgate.AttemptKey, out shipgate.JobOutcome) error {
	f := &finishReq{runner: runner, key: key, out: out, done: make(chan error, 1)}
	d.finishes.add(f, d.finishLoop)
	// Not cut short by ctx: the report may be being written, and the caller
	// must not hear it was not.
	return <-f.done
}

// finishIn decides and applies one report inside tx. reconcile says the
// release must be reconciled before the transaction ends: the report
// changed a job of a release that has not ended.
func (d *Dispatcher) finishIn(ctx context.Context, tx *sqlstore.Tx, runner string, key shipgate.AttemptKey, out shipgate.JobOutcome) (reconcile bool, err error) {
	j, err := current(ctx, tx, runner, key)
	if err != nil {
		return false, err
	}
	r, err := tx.FindRelease(ctx, key.ReleaseID)
	if err != nil {
		return false, err
	}
	cmd := decide.Finish{Job: j, Runner: runner, Outcome: out}
	if !out.Succeeded {
		if cmd.Probes, err = lastProbes(ctx, tx, j); err != nil {
			return false, err
		}
	}
	plan, err := decide.Decide(decide.Observed{Release: r}, cmd, tx.Now())
	if err != nil || plan.Empty() {
		return false, err
	}
	if err := Apply(ctx, tx, &plan); err != nil {
		return false, err
	}
	// A cancelled job's release ended when it was cancelled.
	return j.State != shipgate.JobCancelled, nil
}

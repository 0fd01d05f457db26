package sqlstore

import (
	"context"
	"time"

	"github.com/shipgate/shipgate"

	"github.com/shipgate/shipgate/internal/decide"
)

// ApplyPlan persists a plan of the decider with its audit events: a new
// release and a recorded decision first (their IDs are then bound into the
// plan), then approvals expired, jobs, the release, the jobs of a new run,
// attention timers, promotions, the events, and rollback records. The
// rollback release a plan's Fire asks for is the caller's to create
// (reconcile.Apply): this only stores what was decided.
func (tx *Tx) ApplyPlan(ctx context.Context, p *decide.Plan) error {
	if p.Insert {
		if err := tx.insertRelease(ctx, p.Release); err != nil {
			return err
		}
		p.Bind(p.Release.ID, nil)
	}
	if p.Approval != nil {
		if err := tx.insertApproval(ctx, p.Approval); err != nil {
			return err
		}
		p.Bind(0, map[decide.Pending]int64{decide.NewApproval: p.Approval.ID})
	}
	for _, id := range p.ExpireApprovals {
		if err := tx.markApprovalExpired(ctx, id); err != nil {
			return err
		}
	}
	for i := range p.Jobs {
		if err := tx.updateJob(ctx, &p.Jobs[i]); err != nil {
			return err
		}
	}
	if p.Release != nil && !p.Insert {
		if err := tx.updateRelease(ctx, p.Release); err != nil {
			return err
		}
	}
	if p.StartRun {
		if err := tx.insertJobs(ctx, p.Release, p.NewJobs); err != nil {
			return err
		}
	}
	for i := range p.Attentions {
		if err := tx.PutAttention(ctx, &p.Attentions[i].Attention, p.Attentions[i].Fresh); err != nil {
			return err
		}
	}
	for _, ro := range p.Promote {
		if err := tx.setPromotedThrough(ctx, ro.JobID, ro.Attempt, ro.PromotedThrough); err != nil {
			return err
		}
	}
	if err := tx.Audit(ctx, p.AuditEvents()...); err != nil {
		return err
	}
	return tx.ApplyRollbacks(ctx, p)
}

// ApplyRollbacks writes the rollback records of a plan: again, once the
// rollback release a fired rollback asked for exists and is bound into
// them (reconcile.Apply).
func (tx *Tx) ApplyRollbacks(ctx context.Context, p *decide.Plan) error {
	for i := range p.Rollbacks {
		if err := tx.putRollback(ctx, &p.Rollbacks[i]); err != nil {
			return err
		}
	}
	return nil
}

// ExtendLease moves the lease of running job j to until (a heartbeat). It
// changes no state: a lease that ran out is the decider's (Tick).
func (tx *Tx) ExtendLease(ctx context.Context, j *shipgate.JobRun, until time.Time) error {
	if j.State != shipgate.JobRunning {
		return shipgate.Errorf(shipgate.ECONFLICT, "job %s is %s, not running: its lease cannot be extended", j.Name, j.State)
	}
	j.LeaseUntil = &until
	return tx.updateJob(ctx, j)
}

package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// maxPasses bounds how many plan/apply rounds one reconcile makes: a release
// created with no approvals required goes pending → queued → running →
// jobs queued in three.
const maxPasses = 6

// Release reconciles one release inside tx: it plans and applies until the
// plan is empty. It reports when the release next needs a look and whether
// anything changed. Callers use it right after a human decision (create,
// approve, finish a job) so the consequences land in the same transaction.
func Release(ctx context.Context, tx *sqlstore.Tx, id int64) (wake time.Time, changed bool, err error) {
	for pass := 0; pass < maxPasses; pass++ {
		obs, err := Observe(ctx, tx, id)
		if err != nil {
			return time.Time{}, changed, err
		}
		plan := PlanRelease(obs, tx.Now())
		if plan.Empty() {
			return plan.Wake, changed, nil
		}
		if err := Apply(ctx, tx, &plan); err != nil {
			return time.Time{}, changed, err
		}
		changed = true
		wake = plan.Wake
	}
	return wake, changed, nil
}

// Observe loads what the planner needs for one release.
func Observe(ctx context.Context, tx *sqlstore.Tx, id int64) (Observed, error) {
	r, err := tx.FindRelease(ctx, id)
	if err != nil {
		return Observed{}, err
	}
	obs := Observed{Release: r}
	if r.State == shipgate.StatePendingApproval || r.State == shipgate.StateQueued {
		if obs.Approvals, err = tx.ListApprovals(ctx, id); err != nil {
			return obs, err
		}
	}
	if r.State == shipgate.StateQueued {
		if obs.Ahead, err = tx.ReleaseAhead(ctx, r); err != nil {
			return obs, err
		}
	}
	if r.Run > 0 {
		if obs.Jobs, err = tx.ListJobs(ctx, id, r.Run); err != nil {
			return obs, err
		}
	}
	return obs, nil
}

// Apply writes a plan and its audit events in tx.
func Apply(ctx context.Context, tx *sqlstore.Tx, p *Plan) error {
	for _, id := range p.ExpireApprovals {
		if err := tx.MarkApprovalExpired(ctx, id); err != nil {
			return err
		}
	}
	for i := range p.Jobs {
		if err := tx.UpdateJob(ctx, &p.Jobs[i]); err != nil {
			return err
		}
	}
	if p.Release != nil {
		if err := tx.UpdateRelease(ctx, p.Release); err != nil {
			return err
		}
		if p.StartRun {
			if _, err := tx.CreateJobs(ctx, p.Release.ID, p.Release.Run, &p.Release.Pipeline); err != nil {
				return fmt.Errorf("start run %d of release %d: %w", p.Release.Run, p.Release.ID, err)
			}
		}
	}
	return tx.Audit(ctx, p.Events...)
}

package reconcile

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/decide"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// A release whose environment sets renotify_after or escalate_after has its
// waits for a person (approval, a rollout paused for promote) tracked as
// attentions: the planner opens one when the wait begins, re-notifies and
// escalates on its wake times, and closes it when the wait is over. The
// rows are read and written in the reconcile transaction, so a restarted
// server continues the timers and two servers never both send one.

// observeAttention loads the open waits of a timed release and the rollout
// (if any) that waits for promote.
func observeAttention(ctx context.Context, tx *sqlstore.Tx, obs *decide.Observed) error {
	r := obs.Release
	if !r.Policy.Notify.Timed() {
		return nil
	}
	var err error
	if obs.Attentions, err = tx.OpenAttentions(ctx, r.ID); err != nil {
		return err
	}
	if r.State != shipgate.StateRunning {
		return nil
	}
	for _, j := range obs.Jobs {
		if j.State != shipgate.JobRunning || j.Attempt == 0 {
			continue
		}
		ro, err := tx.FindRollout(ctx, j.ID, j.Attempt)
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		if ro.Status.Phase == shipgate.RolloutPaused {
			obs.PausedFor = fmt.Sprintf("%s/%d/%d", j.Name, j.Attempt, ro.Status.Pause)
			break
		}
	}
	return nil
}

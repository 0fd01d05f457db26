package reconcile

import (
	"context"

	"github.com/shipgate/shipgate/internal/sqlstore"
)

// expireFlagChanges records pending flag changes past their environment's
// flag_approvals.expires_after as expired. It reads first and takes the
// write lock only when one is due, so an idle tick stays read-only; the
// poll interval bounds how late an expiry is recorded (an approval in
// between finds the change expired itself).
func (r *Reconciler) expireFlagChanges(ctx context.Context) error {
	var due bool
	if err := r.DB.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		due, err = tx.FlagChangesDue(ctx)
		return err
	}); err != nil || !due {
		return err
	}
	return r.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExpireFlagChanges(ctx)
		return err
	})
}

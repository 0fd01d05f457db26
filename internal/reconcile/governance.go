package reconcile

import (
	"context"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/decide"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// observeGovernance loads what the checklist and freezes ask of a release
// that has not started: its checklist evaluated now (evidence may have
// arrived since the last look), and, once queued, the freezes that may
// hold it and its override.
func observeGovernance(ctx context.Context, tx *sqlstore.Tx, obs *decide.Observed) error {
	r := obs.Release
	var err error
	if obs.Checklist, err = tx.Checklist(ctx, r); err != nil {
		return err
	}
	if r.State != shipgate.StateQueued || r.Kind == shipgate.ReleaseKindRollback {
		return nil
	}
	if obs.Freezes, err = tx.FreezesFor(ctx, r.Service, r.Environment); err != nil {
		return err
	}
	if len(obs.Freezes) > 0 {
		obs.FreezeOverride, err = tx.FindFreezeOverride(ctx, r.ID)
	}
	return err
}

// TickChecklist records who ticked a manual checklist item of a release
// and reconciles the release: a start-gated item that now holds may let
// it start in the same transaction.
func TickChecklist(ctx context.Context, tx *sqlstore.Tx, t *shipgate.ChecklistTick) (*shipgate.Release, error) {
	if err := tx.TickChecklist(ctx, t); err != nil {
		return nil, err
	}
	if _, _, err := Release(ctx, tx, t.ReleaseID); err != nil {
		return nil, err
	}
	return tx.FindRelease(ctx, t.ReleaseID)
}

// ApproveFreezeOverride grants a release's emergency override (see
// sqlstore.ApproveFreezeOverride) and reconciles the release, which may
// then start through the freeze.
func ApproveFreezeOverride(ctx context.Context, tx *sqlstore.Tx, releaseID int64, actor, group string) (*shipgate.FreezeOverride, error) {
	o, err := tx.ApproveFreezeOverride(ctx, releaseID, actor, group)
	if err != nil {
		return nil, err
	}
	_, _, err = Release(ctx, tx, releaseID)
	return o, err
}

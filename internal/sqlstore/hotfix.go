package sqlstore

import (
	"context"

	"github.com/shipgate/shipgate"
)

// hotfixTarget returns the release a new release fixes forward (release
// create --hotfix [--fixes ID]), or 0 when it is no hotfix. The fixed
// release must be of the same service and environment and have been
// deployed there before: it succeeded or failed (even if rolled back
// since). Without --fixes it is the release deployed there now (the one
// a manual rollback would replace).
func (tx *Tx) hotfixTarget(ctx context.Context, nr NewRelease) (int64, error) {
	if !nr.Hotfix {
		if nr.Fixes != 0 {
			return 0, shipgate.Errorf(shipgate.EINVALID, "fixes %d is given without hotfix: add --hotfix", nr.Fixes)
		}
		return 0, nil
	}
	if nr.Fixes < 0 {
		return 0, shipgate.Errorf(shipgate.EINVALID, "fixes %d is not a release ID", nr.Fixes)
	}
	if nr.Fixes == 0 {
		cur, err := tx.CurrentRelease(ctx, nr.Service, nr.Environment)
		if err != nil {
			if shipgate.ErrorCode(err) == shipgate.EFAILEDPRECONDITION {
				return 0, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "a hotfix fixes a release deployed before, and service %q has none in %s: name it with --fixes", nr.Service, nr.Environment)
			}
			return 0, err
		}
		return cur.ID, nil
	}
	fixed, err := tx.FindRelease(ctx, nr.Fixes)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return 0, shipgate.Errorf(shipgate.EINVALID, "release %d, which the hotfix fixes, does not exist", nr.Fixes)
	}
	if err != nil {
		return 0, err
	}
	if fixed.Service != nr.Service || fixed.Environment != nr.Environment {
		return 0, shipgate.Errorf(shipgate.EINVALID, "release %d is of %s in %s, not %s in %s: a hotfix fixes a release of its own service and environment", fixed.ID, fixed.Service, fixed.Environment, nr.Service, nr.Environment)
	}
	if fixed.SucceededAt == nil && fixed.State != shipgate.StateFailed && fixed.State != shipgate.StateRolledBack {
		return 0, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d was never deployed (it is %s): a hotfix fixes a release that succeeded or failed", fixed.ID, fixed.State)
	}
	return fixed.ID, nil
}

package notify

import (
	"context"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// flipActions are the events of a failure that say which flags its
// rollback policy's mitigations flipped (issue 15): the flips are
// recorded before them, in the same transaction or, for a canary
// analysis abort, at the abort.
var flipActions = map[string]bool{
	shipgate.ActionReleaseFailed: true, shipgate.ActionRollbackPending: true,
	shipgate.ActionRollbackUnavailable: true, shipgate.ActionRollbackFired: true,
}

// mitigated adds to a failure's event the flags the release's current run
// flipped: to the summary people read, and as customData.flags.
func mitigated(ctx context.Context, tx *sqlstore.Tx, ev *Event) error {
	if !flipActions[ev.Audit.Action] || ev.Release.Kind == shipgate.ReleaseKindRollback {
		return nil
	}
	fs, err := tx.ReleaseFlips(ctx, ev.Release)
	if err != nil || len(fs) == 0 {
		return err
	}
	ev.Flips = fs
	ev.Summary += "; flags flipped: " + shipgate.DescribeFlips(fs)
	return nil
}

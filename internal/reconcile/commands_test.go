package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// A person's bad text (a reason, a comment over one line) is refused as
// bad input before anything is looked up: the same answer for a release
// that exists and for one that does not, and nothing changes.
func TestCommandsCheckTextFirst(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			f := newDispFixture(t, engine)
			f.apply(dispService)
			r := f.release("staging", "1")
			bad := "two\nlines"
			ctx := context.Background()
			for _, id := range []int64{r.ID, 999} {
				cmds := map[string]func(tx *sqlstore.Tx) error{
					"cancel": func(tx *sqlstore.Tx) error { _, err := reconcile.CancelRelease(ctx, tx, "carol", id, bad); return err },
					"hold":   func(tx *sqlstore.Tx) error { _, err := reconcile.HoldRollback(ctx, tx, "carol", id, bad); return err },
					"now":    func(tx *sqlstore.Tx) error { _, err := reconcile.RollbackNow(ctx, tx, "carol", id, bad); return err },
					"call-off": func(tx *sqlstore.Tx) error {
						_, err := reconcile.CallOffRollback(ctx, tx, "carol", id, bad)
						return err
					},
					"promote": func(tx *sqlstore.Tx) error {
						_, err := reconcile.PromoteRollout(ctx, tx, "carol", id, bad)
						return err
					},
					"approve": func(tx *sqlstore.Tx) error {
						_, _, err := reconcile.Decide(ctx, tx, &shipgate.User{Name: "admin"}, id, shipgate.DecisionApprove, "sha256:x", bad)
						return err
					},
				}
				for name, cmd := range cmds {
					err := f.db.Update(ctx, cmd)
					if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "one line") && !strings.Contains(err.Error(), "line") {
						t.Errorf("%s on release %d with a two-line text: %v, want invalid", name, id, err)
					}
				}
			}
			if got := f.job(r.ID, "deploy"); got.State == shipgate.JobCancelled || got.State == shipgate.JobSkipped {
				t.Fatalf("a refused cancel changed the job: %+v", got)
			}
		})
	}
}

package reconcile

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/decide"
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
		plan, err := decide.Decide(obs, decide.Tick{}, tx.Now())
		if err != nil {
			return time.Time{}, changed, err
		}
		if starts(&plan, id) && gated(obs.Release) {
			if obs.PolicyHold, err = startGate(ctx, tx, obs.Release); err != nil {
				return time.Time{}, changed, err
			}
			if obs.PolicyHold != "" {
				if plan, err = decide.Decide(obs, decide.Tick{}, tx.Now()); err != nil {
					return time.Time{}, changed, err
				}
			}
		}
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

// Observe loads what the tick needs for one release.
func Observe(ctx context.Context, tx *sqlstore.Tx, id int64) (decide.Observed, error) {
	return observeRelease(ctx, tx, id, true)
}

// observeRelease loads what a decision on release id needs; forTick adds what only
// the tick uses: the rollback target a running release would fail to (a
// query, and perhaps an artifact check), which no command reads.
func observeRelease(ctx context.Context, tx *sqlstore.Tx, id int64, forTick bool) (decide.Observed, error) {
	r, err := tx.FindRelease(ctx, id)
	if err != nil {
		return decide.Observed{}, err
	}
	obs := decide.Observed{Release: r}
	if r.State == shipgate.StatePendingApproval || r.State == shipgate.StateQueued {
		if obs.Approvals, err = tx.ListApprovals(ctx, id); err != nil {
			return obs, err
		}
	}
	if r.State == shipgate.StatePendingApproval || r.State == shipgate.StateQueued {
		if err := observeGovernance(ctx, tx, &obs); err != nil {
			return obs, err
		}
	}
	if r.State == shipgate.StateQueued {
		if obs.Ahead, err = tx.ReleaseAhead(ctx, r); err != nil {
			return obs, err
		}
		if obs.Ahead == nil && r.Kind != shipgate.ReleaseKindRollback {
			if obs.Superseded, err = tx.OpenRollbacksBefore(ctx, r); err != nil {
				return obs, err
			}
		}
	}
	if r.State.Final() || r.State == shipgate.StateRunning && r.Run > 1 {
		// A rerun that fails again finds the rollback its earlier run left.
		if obs.Rollback, err = findRollback(ctx, tx, id); err != nil {
			return obs, err
		}
	}
	if r.Run > 0 {
		if obs.Jobs, err = tx.ListJobs(ctx, id, r.Run); err != nil {
			return obs, err
		}
	}
	if forTick && r.State == shipgate.StateRunning && r.Policy.Rollback.Enabled && r.Kind != shipgate.ReleaseKindRollback {
		if obs.RollbackTarget, obs.RollbackNone, err = RollbackTarget(ctx, tx, r, r.Policy.Rollback.Mode, r.Policy.Rollback.Version); err != nil {
			return obs, err
		}
		if obs.RollbackTarget != nil && mayFail(obs.Jobs, tx.Now()) {
			// The run may end failed in this plan: a rollback to an
			// artifact that cannot be deployed is refused up front, the
			// way a missing target is. Checked only then, since the check
			// may read the artifact.
			if _, err := tx.CheckArtifact(ctx, r, obs.RollbackTarget); err != nil {
				var ua *sqlstore.UnavailableArtifactError
				if !errors.As(err, &ua) {
					return obs, err
				}
				obs.RollbackTarget, obs.RollbackNone = nil, ua.Error()
			}
		}
	}
	return obs, observeAttention(ctx, tx, &obs)
}

// mayFail reports whether a run with these jobs can end failed when it is
// planned at now: a job failed, or a running one's lease ran out with no
// attempt left.
func mayFail(jobs []shipgate.JobRun, now time.Time) bool {
	for _, j := range jobs {
		switch {
		case j.State == shipgate.JobFailed:
			return true
		case j.State == shipgate.JobRunning && j.LeaseUntil != nil && !now.Before(*j.LeaseUntil) && j.Attempt >= j.MaxAttempts:
			return true
		}
	}
	return false
}

// Apply writes a plan and its audit events in tx, and carries out what
// follows from it: the flag mitigations a failure flips, the rollback
// release a fired rollback asks for, and the
// decision on the release a rollback release rolls back when it ends.
func Apply(ctx context.Context, tx *sqlstore.Tx, p *decide.Plan) error {
	if p.Mitigate != "" && p.Release != nil {
		// The flags flip first, so the failure's notifications say so.
		if _, err := tx.MitigateRelease(ctx, p.Release, p.Mitigate); err != nil {
			return err
		}
	}
	if p.Fire != nil {
		if err := applyFire(ctx, tx, p); err != nil {
			return err
		}
	} else if err := tx.ApplyPlan(ctx, p); err != nil {
		return err
	}
	if p.EndRollback != nil && p.Release != nil {
		return endRollback(ctx, tx, p.Release, p.EndRollback.Succeeded)
	}
	return nil
}

// applyFire creates the rollback release plan p fires, and applies p. The
// rollback release is prepared first: when it cannot be (its artifact went
// away while the rollback waited, or the environment changed), a manual
// rollback is refused; a policy one (or one fired by `rollback now`) fires
// as decided, with its events, and is then decided FireRefused.
// Events land in the order people read them: a policy rollback fires,
// then its release is created; a manual rollback's release is created,
// then the rollback.fired event names it.
func applyFire(ctx context.Context, tx *sqlstore.Tx, p *decide.Plan) error {
	f := p.Fire
	of, err := tx.FindRelease(ctx, f.Of)
	if err != nil {
		return err
	}
	target, err := tx.FindRelease(ctx, f.Target)
	if err != nil {
		return err
	}
	manual := slices.ContainsFunc(p.Steps, func(s decide.Step) bool { return s.On == decide.OnManualRollback })
	rr, details, err := tx.PrepareRollbackRelease(ctx, sqlstore.NewRollback{Of: of, Target: target, TriggeredBy: f.TriggeredBy, Actor: f.Actor, Reason: f.Reason})
	if err != nil {
		if manual {
			return err
		}
		refused := decide.FireRefused{Target: target}
		var ua *sqlstore.UnavailableArtifactError
		switch code := shipgate.ErrorCode(err); {
		case errors.As(err, &ua):
			refused.Unavailable, refused.Reason = true, ua.Error()
		case code != "" && code != shipgate.EINTERNAL:
			refused.Reason = shipgate.ErrorMessage(err)
		default:
			return err
		}
		if err := tx.ApplyPlan(ctx, p); err != nil {
			return err
		}
		obs, err := observeRelease(ctx, tx, of.ID, false)
		if err != nil {
			return err
		}
		plan, err := decide.Decide(obs, refused, tx.Now())
		if err != nil {
			return err
		}
		return tx.ApplyPlan(ctx, &plan)
	}
	create, err := decide.Decide(decide.Observed{Release: rr}, decide.Create{Actor: f.Actor, Details: details}, tx.Now())
	if err != nil {
		return err
	}
	if !manual {
		if err := tx.ApplyPlan(ctx, p); err != nil {
			return err
		}
	}
	if err := tx.ApplyPlan(ctx, &create); err != nil {
		return err
	}
	if err := tx.CopyReleaseSecrets(ctx, create.Release.ID, target.ID); err != nil {
		return err
	}
	p.Bind(0, map[decide.Pending]int64{decide.NewRollbackRelease: create.Release.ID})
	if manual {
		if err := tx.ApplyPlan(ctx, p); err != nil {
			return err
		}
	} else {
		if err := tx.ApplyRollbacks(ctx, p); err != nil {
			return err
		}
	}
	// Start it in the same transaction: a rollback should not wait for
	// the next reconcile pass.
	_, _, err = Release(ctx, tx, create.Release.ID)
	return err
}

// endRollback decides the end of rollback release rr on the release it
// rolls back: rolled_back when it succeeded, left as it was otherwise.
func endRollback(ctx context.Context, tx *sqlstore.Tx, rr *shipgate.Release, succeeded bool) error {
	of, err := tx.FindRelease(ctx, rr.RollbackOf)
	if err != nil {
		return err
	}
	obs := decide.Observed{Release: of}
	if obs.Rollback, err = findRollback(ctx, tx, of.ID); err != nil {
		return err
	}
	plan, err := decide.Decide(obs, decide.RollbackEnded{RollbackRelease: rr, Succeeded: succeeded}, tx.Now())
	if err != nil {
		return err
	}
	return tx.ApplyPlan(ctx, &plan)
}

// findRollback returns the rollback of a release, or nil when it has none.
func findRollback(ctx context.Context, tx *sqlstore.Tx, id int64) (*shipgate.Rollback, error) {
	rb, err := tx.FindRollback(ctx, id)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return nil, nil
	}
	return rb, err
}

// RollbackTarget resolves what release r would be rolled back to: with mode
// last_successful the newest other release that succeeded in its
// environment, still stands, and deployed a different artifact; with mode
// version the newest release of that version that succeeded in r's
// environment. Only what succeeded there is restored — a rollback skips
// approval, deploy windows and the canary because it ran there before — so
// a version that succeeded only elsewhere is no target. When there is none
// it returns nil and a sentence saying so.
func RollbackTarget(ctx context.Context, tx *sqlstore.Tx, r *shipgate.Release, mode, version string) (*shipgate.Release, string, error) {
	if mode == shipgate.RollbackVersion {
		t, err := tx.SucceededVersion(ctx, r.Service, r.Environment, version)
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			return nil, "nothing to roll back to: " + sqlstore.NeverSucceededHere(version, r.Environment), nil
		}
		return t, "", err
	}
	t, err := tx.LastSuccessful(ctx, r.Service, r.Environment, r)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return nil, "nothing to roll back to: " + shipgate.ErrorMessage(err), nil
	}
	return t, "", err
}

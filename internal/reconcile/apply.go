package reconcile

import (
	"context"
	"errors"
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
	if r.State == shipgate.StateFailed {
		obs.Rollback, err = tx.FindRollback(ctx, id)
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			obs.Rollback, err = nil, nil
		}
		if err != nil {
			return obs, err
		}
	}
	if r.Run > 0 {
		if obs.Jobs, err = tx.ListJobs(ctx, id, r.Run); err != nil {
			return obs, err
		}
	}
	if r.State == shipgate.StateRunning && r.Policy.Rollback.Enabled && r.Kind != shipgate.ReleaseKindRollback {
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
	if err := applyAttention(ctx, tx, p); err != nil {
		return err
	}
	if err := tx.Audit(ctx, p.Events...); err != nil {
		return err
	}
	if p.StartRun && p.Release.Kind != shipgate.ReleaseKindRollback {
		if err := tx.SupersedeRollbacks(ctx, p.Release); err != nil {
			return err
		}
	}
	return applyRollback(ctx, tx, p)
}

// applyRollback carries out the rollback parts of a plan, after the
// release's own changes and events.
func applyRollback(ctx context.Context, tx *sqlstore.Tx, p *Plan) error {
	if p.Rollback != nil {
		if p.FireTarget != 0 {
			of, err := tx.FindRelease(ctx, p.Rollback.ReleaseID)
			if err != nil {
				return err
			}
			target, err := tx.FindRelease(ctx, p.FireTarget)
			if err != nil {
				return err
			}
			// A rollback a person fired with `rollback now` is theirs, as a
			// manual `shipgate rollback` is: created in their name, with
			// their reason. One whose delay ran out is the system's.
			actor, reason := shipgate.SystemActor, ""
			if p.Rollback.RequestedBy != "" {
				actor, reason = p.Rollback.RequestedBy, p.Rollback.RequestReason
			}
			rr, err := tx.CreateRollbackRelease(ctx, sqlstore.NewRollback{Of: of, Target: target, TriggeredBy: p.Rollback.TriggeredBy, Actor: actor, Reason: reason})
			var ua *sqlstore.UnavailableArtifactError
			if errors.As(err, &ua) {
				// The artifact went away while the rollback waited: nothing
				// to roll back to, said the way a missing target is.
				p.Rollback.State, p.Rollback.FiresAt, p.Rollback.Reason = shipgate.RollbackUnavailable, nil, ua.Error()
				if err := tx.PutRollback(ctx, p.Rollback); err != nil {
					return err
				}
				return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionRollbackUnavailable, shipgate.ReleaseSubject(of.ID), map[string]any{
					"reason": ua.Error(), "target_release": target.ID, "target_version": target.Version,
				}))
			}
			if code := shipgate.ErrorCode(err); code != "" && code != shipgate.EINTERNAL {
				// It cannot fire (the environment changed, a gate refuses the
				// version): say so once, rather than retry forever.
				return tx.FailRollback(ctx, p.Rollback, "the rollback could not fire: "+shipgate.ErrorMessage(err))
			} else if err != nil {
				return err
			}
			p.Rollback.RollbackRelease = rr.ID
			p.Rollback.Reason = fmt.Sprintf("rollback release %d restores version %s", rr.ID, target.Version)
			if err := tx.PutRollback(ctx, p.Rollback); err != nil {
				return err
			}
			// Start it in the same transaction: a rollback should not wait
			// for the next reconcile pass.
			_, _, err = Release(ctx, tx, rr.ID)
			return err
		}
		if err := tx.PutRollback(ctx, p.Rollback); err != nil {
			return err
		}
	}
	if p.EndRollback && p.Release != nil {
		return EndRollback(ctx, tx, p.Release, p.RollbackSucceeded)
	}
	return nil
}

// EndRollback records the end of rollback release rr on the release it rolls
// back: rolled_back when it succeeded, left as it was otherwise.
func EndRollback(ctx context.Context, tx *sqlstore.Tx, rr *shipgate.Release, succeeded bool) error {
	of, err := tx.FindRelease(ctx, rr.RollbackOf)
	if err != nil {
		return err
	}
	rb, err := tx.FindRollback(ctx, of.ID)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		rb, err = &shipgate.Rollback{ReleaseID: of.ID, TriggeredBy: rr.TriggeredBy, TargetID: rr.RestoresRelease, TargetVersion: rr.Version, RollbackRelease: rr.ID}, nil
	}
	if err != nil {
		return err
	}
	subject := shipgate.ReleaseSubject(of.ID)
	if !succeeded {
		rb.State, rb.Reason = shipgate.RollbackFailed, fmt.Sprintf("rollback release %d %s: %s", rr.ID, rr.State, rr.Reason)
		if err := tx.PutRollback(ctx, rb); err != nil {
			return err
		}
		return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionRollbackFailed, subject, map[string]any{
			"rollback_release": rr.ID, "reason": rb.Reason,
		}))
	}
	rb.State, rb.Reason = shipgate.RollbackDone, fmt.Sprintf("rolled back to version %s by release %d", rr.Version, rr.ID)
	if err := tx.PutRollback(ctx, rb); err != nil {
		return err
	}
	if of.State == shipgate.StateFailed || of.State == shipgate.StateSucceeded {
		of.State, of.Reason = shipgate.StateRolledBack, rb.Reason
		if err := tx.UpdateRelease(ctx, of); err != nil {
			return err
		}
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionReleaseRolledBack, subject, map[string]any{
		"rollback_release": rr.ID, "version": rr.Version, "triggered_by": rr.TriggeredBy,
	}))
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

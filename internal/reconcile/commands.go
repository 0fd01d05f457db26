package reconcile

import (
	"context"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/decide"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// The commands people give, each observe → decide → apply in the caller's
// transaction. None reconciles the release afterwards unless it says so;
// the HTTP handlers call Release for the consequences (a release approved
// enough to start, a rollback fired).

// decideOn observes release id, lets observe add what the command needs
// and build it, decides and applies it. It returns the plan as applied.
func decideOn(ctx context.Context, tx *sqlstore.Tx, id int64, observe func(*decide.Observed) (decide.Command, error)) (*decide.Plan, error) {
	obs, err := observeRelease(ctx, tx, id, false)
	if err != nil {
		return nil, err
	}
	cmd, err := observe(&obs)
	if err != nil {
		return nil, err
	}
	plan, err := decide.Decide(obs, cmd, tx.Now())
	if err != nil {
		return nil, err
	}
	return &plan, Apply(ctx, tx, &plan)
}

// just is an observe for commands that need only the release.
func just(cmd decide.Command) func(*decide.Observed) (decide.Command, error) {
	return func(*decide.Observed) (decide.Command, error) { return cmd, nil }
}

// checked runs decideOn for a command whose text (a reason, a comment)
// is checked first, before anything is observed: bad input is refused as
// bad input, even for a release that does not exist.
func checked(ctx context.Context, tx *sqlstore.Tx, id int64, cmd decide.Command, observe func(*decide.Observed) (decide.Command, error)) (*decide.Plan, error) {
	if err := decide.Validate(cmd); err != nil {
		return nil, err
	}
	return decideOn(ctx, tx, id, observe)
}

// released returns the release a plan leaves: changed, or as observed.
func released(ctx context.Context, tx *sqlstore.Tx, p *decide.Plan, id int64) (*shipgate.Release, error) {
	if p.Release != nil {
		r := *p.Release
		return &r, nil
	}
	return tx.FindRelease(ctx, id)
}

// CreateRelease prepares a release from nr (sqlstore.PrepareRelease),
// records it in the state the decider gives a new release, and stores its
// sealed secrets.
func CreateRelease(ctx context.Context, tx *sqlstore.Tx, nr sqlstore.NewRelease) (*shipgate.Release, error) {
	r, details, err := tx.PrepareRelease(ctx, nr)
	if err != nil {
		return nil, err
	}
	// The create gate judges the release as it would be; refused, it is
	// never created (the decision is kept with no release id).
	d, bundle, err := judge(ctx, tx, shipgate.PolicyPointCreate, r, nr.CreatedBy, nil)
	if err != nil {
		return nil, err
	}
	if d != nil && d.Blocks() {
		return nil, &shipgate.PolicyDeniedError{Decision: d, Bundle: bundle}
	}
	plan, err := decide.Decide(decide.Observed{Release: r}, decide.Create{Actor: nr.CreatedBy, Details: details}, tx.Now())
	if err != nil {
		return nil, err
	}
	if err := tx.ApplyPlan(ctx, &plan); err != nil {
		return nil, err
	}
	if d != nil {
		d.ReleaseID = plan.Release.ID
		if err := tx.RecordPolicyDecision(ctx, d, bundle); err != nil {
			return nil, err
		}
	}
	return plan.Release, tx.PutReleaseSecrets(ctx, plan.Release.ID, nr.Secrets)
}

// CreateRollbackRelease prepares the release that rolls nr.Of back to
// nr.Target (sqlstore.PrepareRollbackRelease) and records it: queued, as
// it restores a version that succeeded here. It does not record the
// rollback of nr.Of; ManualRollback and the fire of a policy rollback do.
func CreateRollbackRelease(ctx context.Context, tx *sqlstore.Tx, nr sqlstore.NewRollback) (*shipgate.Release, error) {
	r, details, err := tx.PrepareRollbackRelease(ctx, nr)
	if err != nil {
		return nil, err
	}
	plan, err := decide.Decide(decide.Observed{Release: r}, decide.Create{Actor: nr.Actor, Details: details}, tx.Now())
	if err != nil {
		return nil, err
	}
	if err := tx.ApplyPlan(ctx, &plan); err != nil {
		return nil, err
	}
	return plan.Release, tx.CopyReleaseSecrets(ctx, plan.Release.ID, nr.Target.ID)
}

// Decide records an approve or reject decision by who on release id, whose
// digest the caller states so nobody approves something other than what
// they saw. The environment policy frozen into the release, with the group
// membership frozen with it, decides who may decide; a reject ends the
// release at once (and a rejected rollback release its rollback). Moving
// an approved release on is the reconciler's job.
//
// The user is read again inside this transaction: a user disabled, or
// removed from a group, by a change that committed after their request was
// authenticated cannot slip an approval in behind it.
func Decide(ctx context.Context, tx *sqlstore.Tx, who *shipgate.User, id int64, decision, digest, comment string) (*shipgate.Approval, *shipgate.Release, error) {
	if decision != shipgate.DecisionApprove && decision != shipgate.DecisionReject {
		return nil, nil, shipgate.Errorf(shipgate.EINVALID, "decision must be approve or reject")
	}
	if err := decide.Validate(decide.Decision{Comment: comment}); err != nil {
		return nil, nil, err
	}
	u, err := tx.FindUser(ctx, who.Name)
	if err != nil {
		return nil, nil, err
	}
	plan, err := decideOn(ctx, tx, id, func(obs *decide.Observed) (decide.Command, error) {
		cmd := decide.Decision{Approve: decision == shipgate.DecisionApprove, Approver: u, Digest: digest, Comment: comment}
		if obs.Release.State != shipgate.StatePendingApproval {
			return cmd, nil // the decider refuses it before looking at who
		}
		view, err := tx.ApproverView(ctx, obs.Release)
		if err != nil {
			return nil, err
		}
		cmd.View = view
		if cmd.Approve && obs.Release.Digest == digest {
			// Judged before the approval counts; a reject is never gated.
			if _, err := gate(ctx, tx, shipgate.PolicyPointApprove, obs.Release, u.Name, nil); err != nil {
				return nil, err
			}
		}
		if who.TokenID != 0 {
			t, err := tx.FindToken(ctx, who.TokenID)
			if err != nil {
				return nil, err
			}
			cmd.TokenID, cmd.TokenCreatedBy = who.TokenID, t.CreatedBy
		}
		return cmd, nil
	})
	if err != nil {
		return nil, nil, err
	}
	r, err := released(ctx, tx, plan, id)
	return plan.Approval, r, err
}

// CancelRelease stops a release that has not finished: jobs not yet
// started are skipped and running jobs are marked cancelled, which tells
// their runners to stop them.
func CancelRelease(ctx context.Context, tx *sqlstore.Tx, actor string, id int64, reason string) (*shipgate.Release, error) {
	cmd := decide.Cancel{Actor: actor, Reason: reason}
	plan, err := checked(ctx, tx, id, cmd, just(cmd))
	if err != nil {
		return nil, err
	}
	return released(ctx, tx, plan, id)
}

// RerunRelease puts a failed release back in the queue for a new run with
// the same digest.
func RerunRelease(ctx context.Context, tx *sqlstore.Tx, actor string, id int64) (*shipgate.Release, error) {
	plan, err := decideOn(ctx, tx, id, func(obs *decide.Observed) (decide.Command, error) {
		var err error
		if obs.NewerSucceeded, err = tx.NewerSucceeded(ctx, obs.Release); shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			obs.NewerSucceeded, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		if rb := obs.Rollback; rb != nil && rb.State == shipgate.RollbackFired && rb.RollbackRelease != 0 {
			if obs.RollbackRelease, err = tx.FindRelease(ctx, rb.RollbackRelease); shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
				obs.RollbackRelease, err = nil, nil
			}
		}
		return decide.Rerun{Actor: actor}, err
	})
	if err != nil {
		return nil, err
	}
	return released(ctx, tx, plan, id)
}

// HoldRollback stops the pending rollback of release id from firing on
// its own; reason, if given, is recorded with it.
func HoldRollback(ctx context.Context, tx *sqlstore.Tx, actor string, id int64, reason string) (*shipgate.Rollback, error) {
	cmd := decide.Hold{Actor: actor, Reason: reason}
	plan, err := checked(ctx, tx, id, cmd, just(cmd))
	if err != nil {
		return nil, err
	}
	return rollbackIn(ctx, tx, plan, id)
}

// RollbackNow fires the pending or held rollback of release id at once,
// in actor's name with reason: the rollback release is created and
// started in this transaction.
func RollbackNow(ctx context.Context, tx *sqlstore.Tx, actor string, id int64, reason string) (*shipgate.Rollback, error) {
	cmd := decide.RollbackNow{Actor: actor, Reason: reason}
	if _, err := checked(ctx, tx, id, cmd, just(cmd)); err != nil {
		return nil, err
	}
	return tx.FindRollback(ctx, id)
}

// CallOffRollback ends the pending or held rollback of release id in
// actor's name without rolling back: the release stays failed and nothing
// is deployed. reason is required; it is recorded on the rollback and in
// its rollback.called_off event.
func CallOffRollback(ctx context.Context, tx *sqlstore.Tx, actor string, id int64, reason string) (*shipgate.Rollback, error) {
	cmd := decide.CallOff{Actor: actor, Reason: reason}
	plan, err := checked(ctx, tx, id, cmd, just(cmd))
	if err != nil {
		return nil, err
	}
	return rollbackIn(ctx, tx, plan, id)
}

// rollbackIn returns release id's rollback as plan left it.
func rollbackIn(ctx context.Context, tx *sqlstore.Tx, plan *decide.Plan, id int64) (*shipgate.Rollback, error) {
	for i := len(plan.Rollbacks) - 1; i >= 0; i-- {
		if plan.Rollbacks[i].ReleaseID == id {
			rb := plan.Rollbacks[i]
			return &rb, nil
		}
	}
	return tx.FindRollback(ctx, id)
}

// ManualRollback rolls release cur (the environment's current one) back,
// to the target mode and version name (see RollbackTarget), in actor's name: the rollback release is created, linked, and
// started in this transaction. It is refused while another release of the
// environment is queued or running, or a rollback of cur is open or in
// motion.
func ManualRollback(ctx context.Context, tx *sqlstore.Tx, actor, reason string, cur *shipgate.Release, mode, version string) (*shipgate.Release, error) {
	if _, err := checked(ctx, tx, cur.ID, decide.ManualRollback{Reason: reason}, func(obs *decide.Observed) (decide.Command, error) {
		busy, err := tx.ListReleases(ctx, shipgate.ReleaseFilter{Service: cur.Service, Environment: cur.Environment,
			States: []shipgate.ReleaseState{shipgate.StateQueued, shipgate.StateRunning}, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(busy) > 0 {
			obs.Busy = busy[0]
		}
		if obs.Rollback == nil {
			if obs.Rollback, err = findRollback(ctx, tx, cur.ID); err != nil {
				return nil, err
			}
		}
		target, none, err := RollbackTarget(ctx, tx, cur, mode, version)
		if err != nil {
			return nil, err
		}
		cmd := decide.ManualRollback{Actor: actor, Reason: reason, Target: target}
		if target == nil {
			cmd.NoTarget = &sqlstore.RefusedRollbackError{Of: cur.ID, Version: version, Reason: none}
		}
		return cmd, nil
	}); err != nil {
		return nil, err
	}
	rb, err := tx.FindRollback(ctx, cur.ID)
	if err != nil {
		return nil, err
	}
	return tx.FindRelease(ctx, rb.RollbackRelease)
}

// PromoteRollout continues the paused rollouts of release id's current
// run and returns them as promoted (see decide's promote).
func PromoteRollout(ctx context.Context, tx *sqlstore.Tx, actor string, id int64, comment string) ([]shipgate.Rollout, error) {
	plan, err := checked(ctx, tx, id, decide.Promote{Comment: comment}, func(obs *decide.Observed) (decide.Command, error) {
		r := obs.Release
		if r.Run > 0 {
			all, err := tx.ListRollouts(ctx, id, r.Run)
			if err != nil {
				return nil, err
			}
			obs.Rollouts = all
			if paused := pausedRollouts(all); len(paused) > 0 {
				if _, err := gate(ctx, tx, shipgate.PolicyPointPromote, r, actor, map[string]any{"rollouts": paused, "comment": comment}); err != nil {
					return nil, err
				}
			}
		}
		return decide.Promote{Actor: actor, Comment: comment}, nil
	})
	if err != nil {
		return nil, err
	}
	return plan.Promote, nil
}

package decide

import (
	"fmt"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// create records a new release: waiting for approval, or queued at once
// when it is a rollback release that needs none (ApprovalSkipped).
func (p *planner) create(c Create) {
	if p.r.ID != 0 || p.r.State != "" {
		p.fail(shipgate.Errorf(shipgate.EINTERNAL, "create: release %d already exists (%s)", p.r.ID, p.r.State))
		return
	}
	p.r.UpdatedAt, p.r.Generation = p.now, 1
	p.plan.Insert = true
	if p.r.SkipsApproval() {
		p.setState(shipgate.StateQueued, OnCreate, c.Actor, c.Details, map[string]any{"approval": p.r.ApprovalSkipped})
		// The queued event is the system's: no person approved it.
		p.plan.Events[len(p.plan.Events)-1].Actor = shipgate.SystemActor
		p.r.Reason = fmt.Sprintf("rollback: no approval needed, version %s was approved and succeeded in %s as release %d", p.r.Version, p.r.Environment, p.r.RestoresRelease)
		return
	}
	p.setState(shipgate.StatePendingApproval, OnCreate, c.Actor, c.Details)
}

// decision records an approver's approve or reject. The checks run in
// this order: the release is waiting for approval (CheckDecidable), the
// user may decide it (CheckApprover, which ends with self-approval), and
// only then the digest they saw. A reject ends the release at once;
// whether approvals suffice is the next tick's question.
func (p *planner) decision(c Decision) {
	decision := shipgate.DecisionReject
	if c.Approve {
		decision = shipgate.DecisionApprove
	}
	// The release's state comes before who is deciding and what they saw:
	// nobody can decide a release that is no longer waiting, and saying
	// "you are not a member" then sends them looking for the wrong fix.
	if err := shipgate.CheckDecidable(&p.r, decision); err != nil {
		p.fail(err)
		return
	}
	view := c.View
	if view == nil {
		view = &p.r
	}
	if err := shipgate.CheckApprover(view, c.Approver, decision); err != nil {
		p.fail(err)
		return
	}
	if c.Digest != p.r.Digest {
		p.fail(shipgate.Errorf(shipgate.ECONFLICT, "release %d has digest %s, not %s: look at the release again before deciding", p.r.ID, p.r.Digest, c.Digest))
		return
	}
	if unmet := shipgate.UnmetItems(p.obs.Checklist, shipgate.GateApprove); c.Approve && len(unmet) > 0 {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d cannot be approved yet: its checklist has unmet items: %s", p.r.ID, strings.Join(unmet, "; ")))
		return
	}
	a := &shipgate.Approval{ReleaseID: p.r.ID, Actor: c.Approver.Name, Decision: decision, Digest: c.Digest, Comment: c.Comment, CreatedAt: p.now}
	details := map[string]any{"digest": c.Digest, "comment": c.Comment, "approval_id": NewApproval}
	if c.TokenID != 0 {
		// Which credential decided: a token an admin created for the
		// approver lets that admin decide as them, and this shows it.
		details["token_id"], details["token_created_by"] = c.TokenID, c.TokenCreatedBy
	}
	p.plan.Approval = a
	if !c.Approve {
		reason := "rejected by " + c.Approver.Name
		if c.Comment != "" {
			reason += ": " + c.Comment
		}
		p.finish(shipgate.StateRejected, OnReject, c.Approver.Name, reason, details)
		p.endRollback(false) // a rejected rollback release ends unapplied
		return
	}
	if exp := p.r.Policy.Approvals.ExpiresAfter; exp > 0 {
		t := p.now.Add(exp.Std())
		a.ExpiresAt = &t
		details["expires_at"] = t.Format(time.RFC3339Nano)
	}
	p.move(Step{Entity: EntityApproval, From: None, To: aGiven, On: OnApprove}, c.Approver.Name)
	p.move(Step{Entity: EntityRelease, ID: p.r.ID, From: string(p.r.State), To: string(p.r.State), On: OnApprove}, c.Approver.Name, details)
}

// cancel stops a release that has not finished: jobs not yet started are
// skipped and running jobs are marked cancelled, which tells their runners
// to stop them. A cancelled rollback release ends its rollback unapplied.
func (p *planner) cancel(c Cancel) {
	if p.r.State.Final() {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is %s and can no longer be cancelled", p.r.ID, p.r.State))
		return
	}
	msg := "cancelled by " + c.Actor
	if c.Reason != "" {
		msg += ": " + c.Reason
	}
	p.finish(shipgate.StateCancelled, OnCancel, c.Actor, msg, map[string]any{"from_state": p.r.State, "reason": c.Reason, "run": p.r.Run})
	now := p.now
	for _, j := range p.obs.Jobs {
		switch j.State {
		case shipgate.JobWaiting, shipgate.JobQueued:
			p.jobStep(&j, shipgate.JobSkipped, OnCancel)
			j.End(shipgate.JobEnd{Cause: shipgate.JobCauseSkipped, Detail: "release " + msg})
		case shipgate.JobRunning:
			p.jobStep(&j, shipgate.JobCancelled, OnCancel)
			j.End(shipgate.JobEnd{Cause: shipgate.JobCauseCancelled, Attempt: j.Attempt, Detail: "release " + msg})
		default:
			continue
		}
		j.FinishedAt, j.LeaseUntil = &now, nil
		p.plan.Jobs = append(p.plan.Jobs, j)
	}
	p.endRollback(false)
}

// rerun puts a failed release back in the queue for a new run with the
// same digest, unless that would roll back a newer release or fight a
// rollback in motion. A held rollback is called off: the rerun replaces it.
func (p *planner) rerun(c Rerun) {
	if p.r.State != shipgate.StateFailed {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is %s; only a failed release can be rerun", p.r.ID, p.r.State))
		return
	}
	// Rerunning an old release over a newer one that succeeded would roll
	// the environment back without anyone deciding to.
	if n := p.obs.NewerSucceeded; n != nil {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d (version %s) has succeeded in %s since release %d; create a new release instead of rerunning an older one", n.ID, n.Version, p.r.Environment, p.r.ID))
		return
	}
	// A rollback in motion and a rerun would fight over the environment.
	if rb := p.obs.Rollback; rb != nil {
		switch rb.State {
		case shipgate.RollbackPending:
			p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d's rollback to version %s is pending; `shipgate rollback hold %d` first to rerun it instead", p.r.ID, rb.TargetVersion, p.r.ID))
			return
		case shipgate.RollbackFired:
			if rr := p.obs.RollbackRelease; rr == nil || !rr.State.Final() {
				p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is being rolled back by release %d", p.r.ID, rb.RollbackRelease))
				return
			}
		case shipgate.RollbackHeld:
			off := *rb
			off.Reason = c.Actor + " reran the release instead"
			p.rollbackStep(&off, rb.State, shipgate.RollbackCalledOff, OnRerun, c.Actor, map[string]any{"reason": off.Reason})
			p.plan.Rollbacks = append(p.plan.Rollbacks, off)
		}
	}
	p.setState(shipgate.StateQueued, OnRerun, c.Actor, map[string]any{"previous_run": p.r.Run, "run": p.r.Run + 1, "digest": p.r.Digest})
	p.r.Reason, p.r.WaitUntil, p.r.FinishedAt = "rerun requested by "+c.Actor, nil, nil
}

package decide

import (
	"fmt"

	"github.com/shipgate/shipgate"
)

// The rollback of a release: started by the policy when a run fails (see
// running and startRollback in tick.go), fired by its delay (failed), and
// moved by people and runners through the commands below.

// rollbackOf returns a copy of the observed rollback, or fails the command
// with a not-found error.
func (p *planner) rollbackOf() *shipgate.Rollback {
	if p.obs.Rollback == nil {
		p.fail(shipgate.Errorf(shipgate.ENOTFOUND, "release %d has no rollback", p.r.ID))
		return nil
	}
	rb := *p.obs.Rollback
	return &rb
}

// hold stops a pending rollback from firing on its own.
func (p *planner) hold(c Hold) {
	rb := p.rollbackOf()
	if rb == nil {
		return
	}
	if rb.State != shipgate.RollbackPending {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the rollback of release %d is %s, not pending", p.r.ID, rb.State))
		return
	}
	p.rollbackStep(rb, rb.State, shipgate.RollbackHeld, OnHold, c.Actor, withReason(map[string]any{"target_version": rb.TargetVersion}, c.Reason))
	rb.FiresAt, rb.HeldBy, rb.HoldReason = nil, c.Actor, c.Reason
	rb.Reason = "held by " + c.Actor
	if c.Reason != "" {
		rb.Reason += ": " + c.Reason
	}
	rb.Reason += fmt.Sprintf("; `shipgate rollback now %d` fires it", p.r.ID)
	p.plan.Rollbacks = append(p.plan.Rollbacks, *rb)
}

// rollbackNow makes a pending or held rollback fire at once: it is pending
// with its delay over, so the same plan's tick fires it. The person and
// their reason are kept on the rollback (RequestedBy, RequestReason) for
// the fire: rollback.fired names them, and the rollback release is created
// in their name with their reason, as a manual rollback is.
func (p *planner) rollbackNow(c RollbackNow) {
	rb := p.rollbackOf()
	if rb == nil {
		return
	}
	if !rb.Open() {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the rollback of release %d is %s; only a pending or held rollback can be fired", p.r.ID, rb.State))
		return
	}
	p.rollbackStep(rb, rb.State, shipgate.RollbackPending, OnRollbackNow, c.Actor, withReason(map[string]any{"target_version": rb.TargetVersion}, c.Reason))
	now := p.now
	rb.FiresAt, rb.TriggeredBy = &now, shipgate.TriggeredByUser
	rb.RequestedBy, rb.RequestReason = c.Actor, c.Reason
	p.plan.Rollbacks = append(p.plan.Rollbacks, *rb)
	// Fire it in the same plan, as the next tick would.
	p.obs.Rollback = rb
	p.failed()
}

// callOff ends a pending or held rollback by a person's decision: the
// release stays failed and nothing is deployed. The event is the one the
// system records when it calls a rollback off, with the person as its
// actor and called_by: "person" in its details, so readers of the log and
// the notification sinks can tell the two apart.
func (p *planner) callOff(c CallOff) {
	rb := p.rollbackOf()
	if rb == nil {
		return
	}
	if !rb.Open() {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the rollback of release %d is %s; only a pending or held rollback can be called off", p.r.ID, rb.State))
		return
	}
	from := rb.State
	rb.Reason = "called off by " + c.Actor + ": " + c.Reason
	p.rollbackStep(rb, from, shipgate.RollbackCalledOff, OnCallOff, c.Actor, map[string]any{
		"reason": c.Reason, "called_by": CalledByPerson, "from_state": string(from),
		"target_release": rb.TargetID, "target_version": rb.TargetVersion,
	})
	rb.FiresAt = nil
	p.plan.Rollbacks = append(p.plan.Rollbacks, *rb)
}

// CalledByPerson is the called_by detail of a rollback.called_off event a
// person caused with `shipgate rollback call-off`; the system's own
// call-offs (recovered, superseded, rerun) carry none.
const CalledByPerson = "person"

// manualRollback rolls the environment's current release back to
// c.Target: refused while another release of the environment is queued or
// running, when the release itself neither succeeded nor failed (only
// such a release is the environment's current one), or while a rollback
// of it is open or in motion.
func (p *planner) manualRollback(c ManualRollback) {
	if b := p.obs.Busy; b != nil {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is %s in %s; cancel it or wait for it before rolling back", b.ID, b.State, p.r.Environment))
		return
	}
	if p.r.State != shipgate.StateSucceeded && p.r.State != shipgate.StateFailed {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is %s; only a release that succeeded or failed can be rolled back", p.r.ID, p.r.State))
		return
	}
	from := shipgate.RollbackState(None)
	if rb := p.obs.Rollback; rb != nil {
		if rb.Open() {
			p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d already has a rollback %s; use `shipgate rollback now %d`", p.r.ID, rb.State, p.r.ID))
			return
		}
		if rb.State == shipgate.RollbackFired {
			p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is being rolled back by release %d", p.r.ID, rb.RollbackRelease))
			return
		}
		from = rb.State
	}
	t := c.Target
	if t == nil {
		if c.NoTarget == nil {
			c.NoTarget = shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d has nothing to roll back to", p.r.ID)
		}
		p.fail(c.NoTarget)
		return
	}
	rb := &shipgate.Rollback{ReleaseID: p.r.ID, TriggeredBy: shipgate.TriggeredByUser,
		TargetID: t.ID, TargetVersion: t.Version, Reason: "rolled back by " + c.Actor, RequestedBy: c.Actor, RequestReason: c.Reason}
	if c.Reason != "" {
		rb.Reason += ": " + c.Reason
	}
	p.rollbackStep(rb, from, shipgate.RollbackFired, OnManualRollback, c.Actor, withReason(map[string]any{
		"target_release": t.ID, "target_version": t.Version, "triggered_by": shipgate.TriggeredByUser, "rollback_release": NewRollbackRelease,
		"requested_by": c.Actor,
	}, c.Reason))
	p.plan.Rollbacks = append(p.plan.Rollbacks, *rb)
	p.plan.Fire = &Fire{Of: p.r.ID, Target: t.ID, TriggeredBy: shipgate.TriggeredByUser, Actor: c.Actor, Reason: c.Reason}
}

// fireRefused records that a rollback that just fired has no rollback
// release: its artifact went away (unavailable, said the way a missing
// target is), or the store refused the release (failed, said once rather
// than retried forever).
func (p *planner) fireRefused(c FireRefused) {
	rb := p.rollbackOf()
	if rb == nil {
		return
	}
	if rb.State != shipgate.RollbackFired {
		p.fail(shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the rollback of release %d is %s, not firing", p.r.ID, rb.State))
		return
	}
	if c.Unavailable {
		d := map[string]any{"reason": c.Reason}
		if c.Target != nil {
			d["target_release"], d["target_version"] = c.Target.ID, c.Target.Version
		}
		p.rollbackStep(rb, rb.State, shipgate.RollbackUnavailable, OnFireRefused, shipgate.SystemActor, d)
		rb.FiresAt, rb.Reason = nil, c.Reason
	} else {
		reason := "the rollback could not fire: " + c.Reason
		p.rollbackStep(rb, rb.State, shipgate.RollbackFailed, OnFireRefused, shipgate.SystemActor, map[string]any{"reason": reason})
		rb.FiresAt, rb.Reason = nil, reason
	}
	p.plan.Rollbacks = append(p.plan.Rollbacks, *rb)
}

// rollbackEnded records the end of the rollback release of the observed
// release: the rollback is done and the release rolled_back when it
// succeeded; the rollback failed otherwise. A failed rollback release may
// be rerun: its rollback then ends again.
func (p *planner) rollbackEnded(c RollbackEnded) {
	rr := c.RollbackRelease
	if rr == nil {
		p.fail(shipgate.Errorf(shipgate.EINTERNAL, "rollback of release %d ended without its rollback release", p.r.ID))
		return
	}
	rb := &shipgate.Rollback{ReleaseID: p.r.ID, TriggeredBy: rr.TriggeredBy, TargetID: rr.RestoresRelease, TargetVersion: rr.Version, RollbackRelease: rr.ID}
	from := shipgate.RollbackState(None)
	if p.obs.Rollback != nil {
		rb = p.rollbackOf()
		from = rb.State
	}
	if from != None && from != shipgate.RollbackFired && from != shipgate.RollbackFailed {
		return // it ended some other way already: called off, or a newer rollback replaced it
	}
	if !c.Succeeded {
		rb.Reason = fmt.Sprintf("rollback release %d %s: %s", rr.ID, rr.State, rr.Reason)
		p.rollbackStep(rb, from, shipgate.RollbackFailed, OnRollbackEnded, shipgate.SystemActor, map[string]any{"rollback_release": rr.ID, "reason": rb.Reason})
		p.plan.Rollbacks = append(p.plan.Rollbacks, *rb)
		return
	}
	rb.Reason = fmt.Sprintf("rolled back to version %s by release %d", rr.Version, rr.ID)
	p.rollbackStep(rb, from, shipgate.RollbackDone, OnRollbackEnded, shipgate.SystemActor)
	p.plan.Rollbacks = append(p.plan.Rollbacks, *rb)
	if p.r.State == shipgate.StateFailed || p.r.State == shipgate.StateSucceeded {
		p.setState(shipgate.StateRolledBack, OnRollbackEnded, shipgate.SystemActor, map[string]any{
			"rollback_release": rr.ID, "version": rr.Version, "triggered_by": rr.TriggeredBy,
		})
		p.r.Reason = rb.Reason
	}
}

// recovered calls off a pending rollback of the release because its
// failed health check passed again before the rollback fired.
func (p *planner) recovered(c Recovered) {
	rb := p.obs.Rollback
	if rb == nil || rb.State != shipgate.RollbackPending || !p.r.State.Final() {
		return // nothing to call off, or the run has not ended
	}
	off := *rb
	off.Reason = fmt.Sprintf("health check %s recovered: it passed again after failing, before the rollback fired", c.Job)
	p.rollbackStep(&off, rb.State, shipgate.RollbackCalledOff, OnRecovered, shipgate.SystemActor, map[string]any{"reason": off.Reason})
	off.FiresAt = nil
	p.plan.Rollbacks = append(p.plan.Rollbacks, off)
}

// withReason adds a person's reason to audit details when there is one.
func withReason(details map[string]any, reason string) map[string]any {
	if reason != "" {
		details["reason"] = reason
	}
	return details
}

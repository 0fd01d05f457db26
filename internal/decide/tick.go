package decide

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// tick moves the release on by what time and the world allow (see Tick).
func (p *planner) tick() {
	switch p.r.State {
	case shipgate.StatePendingApproval:
		p.pendingApproval()
	case shipgate.StateQueued:
		p.queued()
	case shipgate.StateRunning:
		p.running()
	case shipgate.StateFailed:
		p.failed()
	}
	p.attention()
}

// expireApprovals records approvals whose time ran out.
func (p *planner) expireApprovals() {
	for _, a := range p.obs.Approvals {
		if a.Decision == shipgate.DecisionApprove && a.ExpiresAt != nil && !p.now.Before(*a.ExpiresAt) && a.ExpiredAt == nil {
			p.plan.ExpireApprovals = append(p.plan.ExpireApprovals, a.ID)
			p.move(Step{Entity: EntityApproval, ID: a.ID, From: aGiven, To: aExpired, On: OnApprovalExpiry}, shipgate.SystemActor, map[string]any{
				"approval_id": a.ID, "approver": a.Actor, "approved_at": a.CreatedAt.Format(time.RFC3339Nano),
				"expires_after": p.r.Policy.Approvals.ExpiresAfter.Std().String(),
			})
		}
	}
}

func (p *planner) pendingApproval() {
	policy := p.r.Policy.Approvals
	p.expireApprovals()
	t := shipgate.TallyApprovals(policy, p.obs.Approvals, p.now)
	if t.RejectedBy != "" { // a reject ends the release itself; this is a safety net.
		p.finish(shipgate.StateRejected, OnReject, shipgate.SystemActor, "rejected by "+t.RejectedBy, map[string]any{"rejected_by": t.RejectedBy})
		return
	}
	if t.Satisfied {
		p.setState(shipgate.StateQueued, OnApproved, shipgate.SystemActor, map[string]any{"approvers": t.Approvers, "required": policy.Required})
		p.r.Reason, p.r.WaitUntil = approvedReason(t, policy), nil
		return // whether it may start is the next look's question: see queued
	}
	reason := t.PendingReason(policy) + p.r.Unreachable()
	for _, prefix := range []string{lapsedPrefix, withdrawnPrefix} {
		if strings.HasPrefix(p.r.Reason, prefix) {
			reason = prefix + reason // keep saying why it is back here
		}
	}
	p.setWaiting(reason, t.NextExpiry)
	if t.NextExpiry != nil {
		p.wakeAt(*t.NextExpiry)
	}
}

const (
	lapsedPrefix    = "approvals expired before the release started; "
	withdrawnPrefix = "approvals were withdrawn before the release started; "
)

// approvalsLapsed sends a queued release back for approval when approvals
// stopped counting before it could start (waiting for a window, for the
// release ahead of it, or for a rerun): they expired, or were withdrawn
// because their giver was disabled or lost the group or role. Approvals
// must count when the run starts, not only when they were given.
func (p *planner) approvalsLapsed() bool {
	policy := p.r.Policy.Approvals
	if policy.Required == 0 || p.r.SkipsApproval() {
		return false // a rollback restoring a proven version has no approvals to lapse
	}
	p.expireApprovals()
	t := shipgate.TallyApprovals(policy, p.obs.Approvals, p.now)
	if t.Satisfied {
		if t.NextExpiry != nil {
			p.wakeAt(*t.NextExpiry)
		}
		return false
	}
	prefix := lapsedPrefix
	for _, a := range p.obs.Approvals {
		if a.WithdrawnAt != nil && (a.ExpiresAt == nil || p.now.Before(*a.ExpiresAt)) {
			prefix = withdrawnPrefix // lost to a withdrawal, not only to time
		}
	}
	p.setState(shipgate.StatePendingApproval, OnLapse, shipgate.SystemActor, map[string]any{"approvers": t.Approvers, "required": policy.Required})
	p.r.Reason, p.r.WaitUntil = prefix+t.PendingReason(policy)+p.r.Unreachable(), nil
	return true
}

func approvedReason(t shipgate.ApprovalTally, policy shipgate.ApprovalPolicy) string {
	if policy.Required == 0 {
		return "no approval required"
	}
	return "approved by " + strings.Join(t.Approvers, ", ")
}

func (p *planner) queued() {
	if p.approvalsLapsed() {
		return
	}
	if a := p.obs.Ahead; a != nil {
		msg := fmt.Sprintf("waiting for release %d (%s) to finish in %s", a.ID, a.State, p.r.Environment)
		if a.State == shipgate.StateFailed {
			msg = fmt.Sprintf("waiting for the pending rollback of release %d in %s (`shipgate rollback hold %d` to go ahead without it)", a.ID, p.r.Environment, a.ID)
		}
		p.setWaiting(msg, nil)
		return
	}
	started := map[string]any{}
	if p.heldByGovernance(started) {
		return
	}
	open, until := shipgate.WindowState(p.r.Policy.Windows, p.now)
	switch {
	case !open && !p.r.WindowsApply():
		// A rollback restores a version known to be good: it does not wait
		// for tomorrow's window while the broken one serves. Said on record.
		started["window"] = shipgate.RollbackOutsideWindow
		if !until.IsZero() {
			started["window_opens_at"] = until.UTC().Format(time.RFC3339Nano)
		}
	case !open:
		held := ""
		if p.r.Kind == shipgate.ReleaseKindRollback {
			held = fmt.Sprintf(shipgate.RollbackHeldForWindow, p.r.Environment) + ": "
		}
		if until.IsZero() {
			p.setWaiting(held+"waiting for a deploy window, but no window of "+p.r.Environment+" ever opens", nil)
			return
		}
		u := until.UTC()
		p.setWaiting(fmt.Sprintf("%swaiting for the deploy window of %s, which opens at %s", held, p.r.Environment, until.Format(time.RFC3339)), &u)
		p.wakeAt(until)
		return
	}
	if p.obs.PolicyHold != "" {
		p.setWaiting(p.obs.PolicyHold, nil) // a policy gate said no at start
		return
	}
	started["run"], started["jobs"] = p.r.Run+1, len(p.r.Pipeline.Jobs)
	p.setState(shipgate.StateRunning, OnStart, shipgate.SystemActor, started)
	p.r.Reason, p.r.WaitUntil = "", nil
	p.r.Run++
	p.startRun()
	if p.r.Kind != shipgate.ReleaseKindRollback {
		p.supersede()
	}
}

// startRun plans the jobs of the release's new run, all waiting: the next
// look queues those whose needs are met.
func (p *planner) startRun() {
	p.plan.StartRun = true
	for _, j := range p.r.Pipeline.Jobs {
		jr := shipgate.JobRun{ReleaseID: p.r.ID, Run: p.r.Run, Name: j.Name, MaxAttempts: j.MaxAttempts()}
		p.jobStep(&jr, shipgate.JobWaiting, OnStart)
		p.plan.NewJobs = append(p.plan.NewJobs, jr)
	}
}

// supersede calls off the open rollbacks of older releases of the
// environment when a deploy starts: rolling them back now would
// overwrite it.
func (p *planner) supersede() {
	for _, rb := range p.obs.Superseded {
		if !rb.Open() || rb.ReleaseID >= p.r.ID {
			continue
		}
		reason := fmt.Sprintf("superseded: release %d (version %s) started in %s", p.r.ID, p.r.Version, p.r.Environment)
		p.rollbackStep(&rb, rb.State, shipgate.RollbackCalledOff, OnSuperseded, shipgate.SystemActor, map[string]any{"reason": reason, "superseded_by": p.r.ID})
		rb.FiresAt, rb.Reason = nil, reason
		p.plan.Rollbacks = append(p.plan.Rollbacks, rb)
	}
}

func (p *planner) running() {
	if p.r.Run == 0 || len(p.obs.Jobs) == 0 {
		return // the run's jobs are created in the same transaction; nothing to do yet
	}
	jobs := make([]shipgate.JobRun, len(p.obs.Jobs))
	copy(jobs, p.obs.Jobs)
	byName := map[string]*shipgate.JobRun{}
	for i := range jobs {
		byName[jobs[i].Name] = &jobs[i]
	}
	dirty := map[string]bool{}

	// Leases that ran out: the runner died or lost contact.
	for i := range jobs {
		j := &jobs[i]
		if j.State != shipgate.JobRunning || j.LeaseUntil == nil {
			continue
		}
		if p.now.Before(*j.LeaseUntil) {
			p.wakeAt(*j.LeaseUntil)
			continue
		}
		end := shipgate.JobEnd{Cause: shipgate.JobCauseLost, Attempt: j.Attempt, Runner: j.Runner}
		reason := end.Reason()
		details := map[string]any{"job": j.Name, "run": j.Run, "attempt": j.Attempt, "runner": j.Runner, "reason": reason, "cause": shipgate.JobCauseLost}
		if j.MayRetry() {
			p.jobStep(j, shipgate.JobQueued, OnLost, details)
			end.Retrying = true
			j.End(end)
			j.LeaseUntil, j.QueuedAt = nil, &p.now
		} else {
			details["state"] = shipgate.JobFailed
			p.jobStep(j, shipgate.JobFailed, OnLost, details)
			j.End(end)
			j.LeaseUntil, j.FinishedAt = nil, &p.now
		}
		dirty[j.Name] = true
	}

	var failed *shipgate.JobRun
	for i := range jobs {
		if jobs[i].State == shipgate.JobFailed && failed == nil {
			failed = &jobs[i]
		}
	}

	// Waiting jobs: queue those whose needs succeeded; skip those that can
	// no longer run. Pipeline order is a topological order, so one pass
	// settles chains of skips.
	for _, name := range p.r.Pipeline.TopoOrder() {
		j := byName[name]
		if j == nil || j.State != shipgate.JobWaiting && !(j.State == shipgate.JobQueued && failed != nil) {
			continue
		}
		spec, _ := p.r.Pipeline.Job(name)
		skip, ready := "", true
		for _, n := range spec.Needs {
			switch dep := byName[n]; {
			case dep == nil:
				skip = "needs " + n + ", which is not part of this run"
			case dep.State == shipgate.JobFailed || dep.State == shipgate.JobSkipped || dep.State == shipgate.JobCancelled:
				skip = fmt.Sprintf("needs %s, which %s", n, dep.State)
			case dep.State != shipgate.JobSucceeded:
				ready = false
			}
		}
		if skip == "" && failed != nil {
			skip = fmt.Sprintf("not started: job %s failed", failed.Name)
		}
		switch {
		case skip != "":
			p.jobStep(j, shipgate.JobSkipped, OnNeedFailed)
			j.End(shipgate.JobEnd{Cause: shipgate.JobCauseSkipped, Detail: skip})
			j.FinishedAt = &p.now
			dirty[name] = true
		case ready && j.State == shipgate.JobWaiting:
			p.jobStep(j, shipgate.JobQueued, OnNeedsMet)
			j.QueuedAt, j.Reason = &p.now, waitingForRunner(spec.RunsOn)
			dirty[name] = true
		}
	}
	for _, j := range jobs {
		if dirty[j.Name] {
			p.plan.Jobs = append(p.plan.Jobs, j)
		}
	}

	// The run ends when every job has.
	allFinal, allOK := true, true
	for _, j := range jobs {
		allFinal = allFinal && j.State.Final()
		allOK = allOK && j.State == shipgate.JobSucceeded
	}
	if !allFinal {
		return
	}
	if allOK {
		p.finish(shipgate.StateSucceeded, OnRunEnded, shipgate.SystemActor, "", map[string]any{"run": p.r.Run, "kind": p.r.Kind})
		p.endRollback(true)
		return
	}
	reason := "the run ended without every job succeeding"
	if failed != nil {
		reason = fmt.Sprintf("job %s failed: %s", failed.Name, failed.Reason)
	}
	p.finish(shipgate.StateFailed, OnRunEnded, shipgate.SystemActor, reason, map[string]any{"run": p.r.Run, "reason": reason, "failed_job": jobName(failed), "kind": p.r.Kind})
	p.endRollback(false)
	for _, j := range jobs {
		if j.State == shipgate.JobFailed && p.r.MitigationTriggered(j.Name) {
			p.plan.Mitigate = reason
			break
		}
	}
	for _, j := range jobs {
		if j.State == shipgate.JobFailed && p.r.RollbackTriggered(j.Name) {
			p.startRollback(j.Name)
			break
		}
	}
}

// endRollback notes that a rollback release ended.
func (p *planner) endRollback(succeeded bool) {
	if p.r.Kind == shipgate.ReleaseKindRollback && p.r.RollbackOf != 0 {
		p.plan.EndRollback = &RollbackEnded{Succeeded: succeeded}
	}
}

// startRollback applies the rollback policy to a release that just failed:
// a rollback pending for delay_seconds, or none if there is nothing to roll
// back to.
func (p *planner) startRollback(failedJob string) {
	pol := p.r.Policy.Rollback
	rb := &shipgate.Rollback{ReleaseID: p.r.ID, TriggeredBy: shipgate.TriggeredByPolicy}
	from := shipgate.RollbackState(None)
	if p.obs.Rollback != nil {
		from = p.obs.Rollback.State
	}
	if t := p.obs.RollbackTarget; t == nil {
		rb.Reason = p.obs.RollbackNone
		p.rollbackStep(rb, from, shipgate.RollbackUnavailable, OnRunEnded, shipgate.SystemActor, map[string]any{"reason": rb.Reason})
	} else {
		fires := p.now.Add(time.Duration(pol.DelaySeconds) * time.Second)
		p.rollbackStep(rb, from, shipgate.RollbackPending, OnRunEnded, shipgate.SystemActor, map[string]any{
			"target_release": t.ID, "target_version": t.Version, "delay_seconds": pol.DelaySeconds, "fires_at": fires.Format(time.RFC3339Nano),
		})
		rb.TargetID, rb.TargetVersion, rb.FiresAt = t.ID, t.Version, &fires
		unless := "it is held, or someone rolls back now"
		if spec, ok := p.r.Pipeline.Job(failedJob); ok && spec.Check != nil {
			unless = "the check recovers, " + unless // a failed check is watched: see Recovered
		}
		rb.Reason = fmt.Sprintf("rolling back to version %s (release %d) at %s unless %s", t.Version, t.ID, fires.Format(time.RFC3339), unless)
		p.wakeAt(fires)
	}
	p.plan.Rollbacks = append(p.plan.Rollbacks, *rb)
}

// failed fires a pending rollback when its delay is over.
func (p *planner) failed() {
	rb := p.obs.Rollback
	if rb == nil || rb.State != shipgate.RollbackPending || rb.FiresAt == nil {
		return
	}
	if p.now.Before(*rb.FiresAt) {
		p.wakeAt(*rb.FiresAt)
		return
	}
	fired := *rb
	fired.Reason = "" // says which release restores it, once it exists (Plan.Bind)
	// Fired by `rollback now`, the person is accountable for it (the
	// actor, as of a manual rollback); fired by its delay, the system.
	actor, reason := shipgate.SystemActor, ""
	if rb.RequestedBy != "" {
		actor, reason = rb.RequestedBy, rb.RequestReason
	}
	p.rollbackStep(&fired, rb.State, shipgate.RollbackFired, OnFire, actor, firedDetails(rb))
	p.plan.Rollbacks = append(p.plan.Rollbacks, fired)
	p.plan.Fire = &Fire{Of: p.r.ID, Target: rb.TargetID, TriggeredBy: rb.TriggeredBy, Actor: actor, Reason: reason}
}

// firedDetails are the details of rollback.fired: what it restores, what
// triggered it and, when a person fired it with `rollback now`, who and
// why (and who held it before, and why).
func firedDetails(rb *shipgate.Rollback) map[string]any {
	d := map[string]any{"target_release": rb.TargetID, "target_version": rb.TargetVersion, "triggered_by": rb.TriggeredBy}
	for k, v := range map[string]string{"requested_by": rb.RequestedBy, "reason": rb.RequestReason, "held_by": rb.HeldBy, "hold_reason": rb.HoldReason} {
		if v != "" {
			d[k] = v
		}
	}
	return d
}

// waitingForRunner explains a queued job: which runner labels it waits for.
func waitingForRunner(runsOn map[string]string) string {
	if len(runsOn) == 0 {
		return "waiting for a runner"
	}
	keys := make([]string, 0, len(runsOn))
	for k := range runsOn {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + runsOn[k]
	}
	return "waiting for a runner with labels " + strings.Join(keys, ",")
}

func jobName(j *shipgate.JobRun) string {
	if j == nil {
		return ""
	}
	return j.Name
}

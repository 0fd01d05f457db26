package reconcile

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// Observed is what the planner sees of one release.
type Observed struct {
	Release   *shipgate.Release
	Approvals []shipgate.Approval
	// Jobs are the jobs of the release's current run (empty before the
	// first run).
	Jobs []shipgate.JobRun
	// Ahead is a release of the same service and environment that must
	// finish before this one may start: one that is running, or queued
	// before it. Releases to one environment run one at a time, in order.
	Ahead *shipgate.Release
	// Rollback is the rollback of a failed release, if it has one.
	Rollback *shipgate.Rollback
	// RollbackTarget is what a running release would be rolled back to if
	// it failed now, resolved from its policy; nil with RollbackNone saying
	// why when there is nothing.
	RollbackTarget *shipgate.Release
	RollbackNone   string
	// Attentions are the release's open waits for a person, and PausedFor
	// names the rollout pause that waits for promote (see attention.go).
	Attentions []shipgate.Attention
	PausedFor  string
}

// Plan is what to change for one release. Zero value: nothing.
type Plan struct {
	// Release is the release with new lifecycle fields, or nil.
	Release *shipgate.Release
	// StartRun asks for the jobs of Release.Run to be created.
	StartRun bool
	// ExpireApprovals lists approvals whose expiry is to be recorded.
	ExpireApprovals []int64
	// Jobs lists jobs with changed fields.
	Jobs []shipgate.JobRun
	// Rollback is a rollback record to create or update.
	Rollback *shipgate.Rollback
	// Fire asks for the rollback release of the (failed) release to be
	// created now, restoring release FireTarget.
	FireTarget int64
	// EndRollback reports that this rollback release ended: the release it
	// rolls back is then rolled_back (RollbackSucceeded) or stays as it was.
	EndRollback       bool
	RollbackSucceeded bool
	// Attentions are waits for a person to open, update or close.
	Attentions []AttentionChange
	// Events record every change above.
	Events []shipgate.AuditEvent
	// Wake is when the release should next be looked at without an outside
	// trigger; zero means only on a trigger.
	Wake time.Time
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return p.Release == nil && !p.StartRun && len(p.ExpireApprovals) == 0 && len(p.Jobs) == 0 && len(p.Events) == 0 &&
		p.Rollback == nil && p.FireTarget == 0 && !p.EndRollback && len(p.Attentions) == 0
}

// planner accumulates a plan; r is a private copy of the release.
type planner struct {
	obs     Observed
	now     time.Time
	r       shipgate.Release
	changed bool
	plan    Plan
}

func (p *planner) event(action string, details map[string]any) {
	p.plan.Events = append(p.plan.Events, shipgate.NewAuditEvent(shipgate.SystemActor, action, shipgate.ReleaseSubject(p.r.ID), details))
}

func (p *planner) wakeAt(t time.Time) {
	if !t.IsZero() && (p.plan.Wake.IsZero() || t.Before(p.plan.Wake)) {
		p.plan.Wake = t
	}
}

// setWaiting updates the explanation of why the release waits.
func (p *planner) setWaiting(reason string, until *time.Time) {
	if p.r.Reason != reason || !sameTime(p.r.WaitUntil, until) {
		p.r.Reason, p.r.WaitUntil = reason, until
		p.changed = true
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// PlanRelease computes the next changes for one release at now. It does no
// IO and reads nothing but its arguments.
func PlanRelease(obs Observed, now time.Time) Plan {
	p := &planner{obs: obs, now: now, r: *obs.Release}
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
	if p.changed {
		r := p.r
		p.plan.Release = &r
	}
	return p.plan
}

// expireApprovals records approvals whose time ran out.
func (p *planner) expireApprovals() {
	for _, a := range p.obs.Approvals {
		if a.Decision == shipgate.DecisionApprove && a.ExpiresAt != nil && !p.now.Before(*a.ExpiresAt) && a.ExpiredAt == nil {
			p.plan.ExpireApprovals = append(p.plan.ExpireApprovals, a.ID)
			p.event(shipgate.ActionApprovalExpired, map[string]any{
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
	if t.RejectedBy != "" { // Decide ends the release itself; this is a safety net.
		p.finish(shipgate.StateRejected, "rejected by "+t.RejectedBy)
		p.event(shipgate.ActionReleaseRejected, map[string]any{"rejected_by": t.RejectedBy})
		return
	}
	if t.Satisfied {
		p.r.State, p.changed = shipgate.StateQueued, true
		p.r.Reason, p.r.WaitUntil = approvedReason(t, policy), nil
		details := map[string]any{"approvers": t.Approvers, "required": policy.Required}
		p.event(shipgate.ActionReleaseQueued, details)
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
	if policy.Required == 0 || p.r.ApprovalSkipped != "" {
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
	p.r.State, p.changed = shipgate.StatePendingApproval, true
	p.r.Reason, p.r.WaitUntil = prefix+t.PendingReason(policy)+p.r.Unreachable(), nil
	p.event(shipgate.ActionApprovalsLapsed, map[string]any{"approvers": t.Approvers, "required": policy.Required})
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
			msg = fmt.Sprintf("waiting for the pending rollback of release %d in %s (hold it to go ahead)", a.ID, p.r.Environment)
		}
		p.setWaiting(msg, nil)
		return
	}
	started := map[string]any{}
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
	p.r.State, p.r.Reason, p.r.WaitUntil = shipgate.StateRunning, "", nil
	p.r.Run++
	p.changed = true
	p.plan.StartRun = true
	started["run"], started["jobs"] = p.r.Run, len(p.r.Pipeline.Jobs)
	p.event(shipgate.ActionReleaseStarted, started)
}

func (p *planner) finish(state shipgate.ReleaseState, reason string) {
	now := p.now
	p.r.State, p.r.Reason, p.r.WaitUntil, p.r.FinishedAt = state, reason, nil, &now
	p.changed = true
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
		reason := fmt.Sprintf("lease expired on agent %s", j.Runner)
		details := map[string]any{"job": j.Name, "run": j.Run, "attempt": j.Attempt, "runner": j.Runner, "reason": reason}
		if j.MayRetry() {
			j.State, j.Reason, j.Cause, j.LeaseUntil, j.QueuedAt = shipgate.JobQueued, reason+"; retrying", shipgate.JobCauseLost, nil, &p.now
			p.event(shipgate.ActionJobRetry, details)
		} else {
			j.State, j.Reason, j.Cause, j.LeaseUntil, j.FinishedAt = shipgate.JobFailed, reason, shipgate.JobCauseLost, nil, &p.now
			details["state"] = shipgate.JobFailed
			p.event(shipgate.ActionJobFinished, details)
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
			j.State, j.Reason, j.Cause, j.FinishedAt = shipgate.JobSkipped, skip, shipgate.JobCauseSkipped, &p.now
			dirty[name] = true
		case ready && j.State == shipgate.JobWaiting:
			j.State, j.QueuedAt, j.Reason = shipgate.JobQueued, &p.now, waitingForRunner(spec.RunsOn)
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
		p.finish(shipgate.StateSucceeded, "")
		p.event(shipgate.ActionReleaseSucceeded, map[string]any{"run": p.r.Run, "kind": p.r.Kind})
		p.endRollback(true)
		return
	}
	reason := "the run ended without every job succeeding"
	if failed != nil {
		reason = fmt.Sprintf("job %s failed: %s", failed.Name, failed.Reason)
	}
	p.finish(shipgate.StateFailed, reason)
	p.event(shipgate.ActionReleaseFailed, map[string]any{"run": p.r.Run, "reason": reason, "failed_job": jobName(failed), "kind": p.r.Kind})
	p.endRollback(false)
	for _, j := range jobs {
		if j.State == shipgate.JobFailed && p.r.RollbackTriggered(j.Name) {
			p.startRollback()
			break
		}
	}
}

// endRollback notes that a rollback release ended.
func (p *planner) endRollback(succeeded bool) {
	if p.r.Kind == shipgate.ReleaseKindRollback && p.r.RollbackOf != 0 {
		p.plan.EndRollback, p.plan.RollbackSucceeded = true, succeeded
	}
}

// startRollback applies the rollback policy to a release that just failed:
// a rollback pending for delay_seconds, or none if there is nothing to roll
// back to.
func (p *planner) startRollback() {
	pol := p.r.Policy.Rollback
	rb := &shipgate.Rollback{ReleaseID: p.r.ID, TriggeredBy: shipgate.TriggeredByPolicy}
	if t := p.obs.RollbackTarget; t == nil {
		rb.State, rb.Reason = shipgate.RollbackUnavailable, p.obs.RollbackNone
		p.event(shipgate.ActionRollbackUnavailable, map[string]any{"reason": rb.Reason})
	} else {
		fires := p.now.Add(time.Duration(pol.DelaySeconds) * time.Second)
		rb.State, rb.TargetID, rb.TargetVersion, rb.FiresAt = shipgate.RollbackPending, t.ID, t.Version, &fires
		rb.Reason = fmt.Sprintf("rolling back to version %s (release %d) at %s unless the check recovers, it is held, or someone rolls back now", t.Version, t.ID, fires.Format(time.RFC3339))
		p.event(shipgate.ActionRollbackPending, map[string]any{
			"target_release": t.ID, "target_version": t.Version, "delay_seconds": pol.DelaySeconds, "fires_at": fires.Format(time.RFC3339Nano),
		})
		p.wakeAt(fires)
	}
	p.plan.Rollback = rb
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
	fired.State = shipgate.RollbackFired
	p.plan.Rollback, p.plan.FireTarget = &fired, rb.TargetID
	// Fired by `rollback now`, the person is accountable for it (the
	// actor, as of a manual rollback); fired by its delay, the system.
	actor := shipgate.SystemActor
	if rb.RequestedBy != "" {
		actor = rb.RequestedBy
	}
	p.plan.Events = append(p.plan.Events, shipgate.NewAuditEvent(actor, shipgate.ActionRollbackFired, shipgate.ReleaseSubject(p.r.ID), firedDetails(rb)))
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

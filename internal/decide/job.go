package decide

import "github.com/shipgate/shipgate"

// MaxHandBacks bounds how often a job may be handed back unstarted before
// it fails: a runner that keeps handing jobs back cannot start anything.
const MaxHandBacks = 5

// claim hands a queued job of the release's current run to a runner. A
// job of a release that is not running, or of an older run, or no longer
// queued, is not handed out: the plan is empty.
func (p *planner) claim(c Claim) {
	j := c.Job
	if p.r.State != shipgate.StateRunning || p.r.Run != j.Run || j.State != shipgate.JobQueued {
		return
	}
	now, lease := p.now, c.LeaseUntil
	p.jobStep(&j, shipgate.JobRunning, OnClaim, map[string]any{"job": j.Name, "run": j.Run, "attempt": j.Attempt + 1, "runner": c.Runner})
	j.Attempt, j.Runner, j.ClaimID, j.LeaseUntil, j.StartedAt, j.FinishedAt, j.ExitCode, j.Reason =
		j.Attempt+1, c.Runner, c.ClaimID, &lease, &now, nil, nil, ""
	p.plan.Jobs = append(p.plan.Jobs, j)
}

// refuse fails a queued job the server cannot hand out (its secrets cannot
// be opened), rather than hand it out without them or leave it running
// under a lease nobody holds.
func (p *planner) refuse(c Refuse) {
	j := c.Job
	if j.State != shipgate.JobQueued {
		return
	}
	now := p.now
	p.jobStep(&j, shipgate.JobFailed, OnRefuse, map[string]any{"job": j.Name, "run": j.Run, "attempt": j.Attempt, "state": shipgate.JobFailed, "reason": c.Reason})
	j.End(shipgate.JobEnd{Cause: shipgate.JobCauseRefused, Attempt: j.Attempt, Detail: c.Reason})
	j.FinishedAt = &now
	p.plan.Jobs = append(p.plan.Jobs, j)
}

// finishJob records the outcome of a runner's attempt. A failed attempt
// with attempts left is queued again; one handed back unstarted is queued
// again without using an attempt, unless it keeps coming back. Reporting
// the same outcome twice changes nothing; an outcome that arrives after
// the job was failed as lost is refused.
func (p *planner) finishJob(c Finish) {
	j, out, now := c.Job, c.Outcome, p.now
	details := map[string]any{"job": j.Name, "run": j.Run, "attempt": j.Attempt, "runner": c.Runner, "reason": out.Reason}
	if out.ExitCode != nil {
		details["exit_code"] = *out.ExitCode
	}
	if j.StartedAt != nil {
		details["duration_ms"] = now.Sub(*j.StartedAt).Milliseconds()
	}
	var on Trigger = OnFinish
	switch {
	case j.State == shipgate.JobCancelled:
		if j.ExitCode != nil {
			return // already reported
		}
		code := -1 // stopped by a signal; -1 also marks the report as received
		if out.ExitCode != nil {
			code = *out.ExitCode
		}
		details["state"] = shipgate.JobCancelled
		p.jobStep(&j, shipgate.JobCancelled, OnFinish, details)
		j.ExitCode = &code
		p.plan.Jobs = append(p.plan.Jobs, j)
		return
	case j.State == shipgate.JobQueued && out.Succeeded && !out.NotStarted && (j.Cause == shipgate.JobCauseLost || j.Cause == shipgate.JobCauseNotStarted):
		// The lease ran out (or the attempt was handed back) before this
		// report arrived, but the attempt did succeed: take the result
		// rather than run the job again. A failure the runner itself
		// reported stands: its retry is queued.
		details["late"] = true
		p.jobStep(&j, shipgate.JobSucceeded, OnFinish, details)
		j.Reason, j.Cause = "", ""
	case j.State == shipgate.JobFailed && j.Cause == shipgate.JobCauseLost && !out.NotStarted:
		p.fail(shipgate.Errorf(shipgate.ECONFLICT, "the outcome of attempt %d arrived after its lease expired; the job was already failed as lost (%s)", j.Attempt, j.Reason))
		return
	case j.State != shipgate.JobRunning:
		return // a repeated report, or a failure whose retry is already queued
	case out.NotStarted && !out.Succeeded:
		// Nothing ran: queue it again without using up a retry, unless it
		// keeps coming back (a runner that cannot start anything).
		on = OnHandBack
		base := j.MaxAttempts
		if spec, ok := p.r.Pipeline.Job(j.Name); ok {
			base = spec.MaxAttempts()
		}
		if j.MaxAttempts-base >= MaxHandBacks {
			details["state"] = shipgate.JobFailed
			p.jobStep(&j, shipgate.JobFailed, on, details)
			j.End(shipgate.JobEnd{Cause: shipgate.JobCauseNotStarted, Attempt: j.Attempt, Detail: out.Reason, HandBacks: MaxHandBacks + 1})
			break
		}
		details["state"], details["not_started"] = "requeued", true
		p.jobStep(&j, shipgate.JobQueued, on, details)
		j.MaxAttempts++
		j.End(shipgate.JobEnd{Cause: shipgate.JobCauseNotStarted, Attempt: j.Attempt, Detail: out.Reason, Retrying: true})
		j.QueuedAt, j.LeaseUntil = &now, nil
		p.plan.Jobs = append(p.plan.Jobs, j)
		return
	case out.Succeeded:
		details["state"] = shipgate.JobSucceeded
		p.jobStep(&j, shipgate.JobSucceeded, on, details)
		j.Reason, j.Cause = "", ""
	case j.MayRetry():
		details["state"] = "retrying"
		p.jobStep(&j, shipgate.JobQueued, on, details)
		j.End(shipgate.JobEnd{Cause: shipgate.JobCauseStepFailed, Attempt: j.Attempt, Detail: out.Reason, Retrying: true})
		j.QueuedAt = &now
		j.ExitCode, j.LeaseUntil = out.ExitCode, nil
		p.plan.Jobs = append(p.plan.Jobs, j)
		return
	default:
		details["state"] = shipgate.JobFailed
		p.jobStep(&j, shipgate.JobFailed, on, details)
		j.End(shipgate.JobEnd{Cause: shipgate.JobCauseStepFailed, Attempt: j.Attempt, Detail: out.Reason})
	}
	details["state"] = j.State
	if j.State == shipgate.JobFailed && c.Probes != nil {
		details["probes"] = c.Probes
	}
	j.ExitCode, j.LeaseUntil, j.FinishedAt = out.ExitCode, nil, &now
	p.plan.Jobs = append(p.plan.Jobs, j)
}

package decide

import (
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// Command is something that happened to a release: a person's command, a
// runner's report, or time passing (Tick).
type Command interface {
	// Trigger names the command as the transition table does.
	Trigger() Trigger
}

// Tick is time passing: the reconcile loop's look at a release, which
// moves it on by what the clock and the rest of the world allow —
// approvals met, expired or lapsed, the deploy window opening, jobs whose
// needs are met or whose lease ran out, the run ending, a rollback's
// delay running out, waits for a person re-notified.
type Tick struct{}

// Create records a new release (Observed.Release, with ID 0). Details are
// the facts of its release.created event; a rollback release that needs
// no approval is queued at once (Release.ApprovalSkipped says why).
type Create struct {
	Actor   string
	Details map[string]any
}

// Decision is an approver's approve or reject of the release.
type Decision struct {
	Approve bool
	// Approver is the user deciding, as read in this transaction; View is
	// the release as its frozen approver groups show it (the store's
	// ApproverView).
	Approver *shipgate.User
	View     *shipgate.Release
	Digest   string
	Comment  string
	// TokenID and TokenCreatedBy name the credential that decided, when
	// it was a token someone else created for the approver.
	TokenID        int64
	TokenCreatedBy string
}

// Cancel stops a release that has not finished.
type Cancel struct{ Actor, Reason string }

// Rerun puts a failed release back in the queue for a new run.
type Rerun struct{ Actor string }

// Hold stops a pending rollback from firing on its own.
type Hold struct{ Actor, Reason string }

// RollbackNow fires a pending or held rollback at once.
type RollbackNow struct{ Actor, Reason string }

// CallOff ends a pending or held rollback by a person's decision, without
// rolling back: the release stays failed and nothing is deployed. Unlike
// hold and now, the reason is required: the rollback the policy asked for
// does not happen, and the audit log must say why.
type CallOff struct{ Actor, Reason string }

// ManualRollback rolls the release (the environment's current one) back
// to Target, a release that succeeded in its environment. Without a
// Target, NoTarget says why there is nothing to roll back to; it refuses
// the command once the environment is known to be free for a rollback.
type ManualRollback struct {
	Actor, Reason string
	Target        *shipgate.Release
	NoTarget      error
}

// FireRefused says the rollback release of a rollback that just fired
// could not be created: its artifact is unavailable (Unavailable), or the
// store refused it.
type FireRefused struct {
	Unavailable bool
	Reason      string
	Target      *shipgate.Release
}

// RollbackEnded says the rollback release of the observed release ended.
type RollbackEnded struct {
	RollbackRelease *shipgate.Release
	Succeeded       bool
}

// Recovered says the failed health check Job passed again.
type Recovered struct{ Job string }

// Promote continues the paused rollouts of the release's current run.
type Promote struct{ Actor, Comment string }

// Claim hands queued job Job (as observed) to Runner under a lease until
// LeaseUntil.
type Claim struct {
	Job        shipgate.JobRun
	Runner     string
	ClaimID    string
	LeaseUntil time.Time
}

// Refuse fails queued job Job that the server cannot hand out.
type Refuse struct {
	Job    shipgate.JobRun
	Reason string
}

// Finish is Runner's report of how its attempt of job Job (as observed,
// held by Runner) ended. Probes are the last probes of a check's attempt,
// put into the event of a failure as evidence.
type Finish struct {
	Job     shipgate.JobRun
	Runner  string
	Outcome shipgate.JobOutcome
	Probes  []map[string]any
}

// Triggers of the commands.
func (Tick) Trigger() Trigger   { return OnStart }
func (Create) Trigger() Trigger { return OnCreate }
func (c Decision) Trigger() Trigger {
	if c.Approve {
		return OnApprove
	}
	return OnReject
}
func (Cancel) Trigger() Trigger         { return OnCancel }
func (Rerun) Trigger() Trigger          { return OnRerun }
func (Hold) Trigger() Trigger           { return OnHold }
func (RollbackNow) Trigger() Trigger    { return OnRollbackNow }
func (CallOff) Trigger() Trigger        { return OnCallOff }
func (ManualRollback) Trigger() Trigger { return OnManualRollback }
func (FireRefused) Trigger() Trigger    { return OnFireRefused }
func (RollbackEnded) Trigger() Trigger  { return OnRollbackEnded }
func (Recovered) Trigger() Trigger      { return OnRecovered }
func (Promote) Trigger() Trigger        { return OnPromote }
func (Claim) Trigger() Trigger          { return OnClaim }
func (Refuse) Trigger() Trigger         { return OnRefuse }
func (Finish) Trigger() Trigger         { return OnFinish }

// Validate checks the text a person gave with cmd (a reason, a comment):
// one line of printable text within shipgate.MaxCommentLen. Callers check
// it before they observe anything, so bad input is refused as bad input
// whatever the release; Decide checks it again.
func Validate(cmd Command) error {
	switch c := cmd.(type) {
	case Decision:
		return shipgate.ValidateLine("comment", c.Comment, shipgate.MaxCommentLen)
	case Promote:
		return shipgate.ValidateLine("comment", c.Comment, shipgate.MaxCommentLen)
	case Cancel:
		return shipgate.ValidateLine("reason", c.Reason, shipgate.MaxCommentLen)
	case Hold:
		return shipgate.ValidateLine("reason", c.Reason, shipgate.MaxCommentLen)
	case RollbackNow:
		return shipgate.ValidateLine("reason", c.Reason, shipgate.MaxCommentLen)
	case CallOff:
		if strings.TrimSpace(c.Reason) == "" {
			return shipgate.Errorf(shipgate.EINVALID, "reason is required: say why the rollback is called off")
		}
		return shipgate.ValidateLine("reason", c.Reason, shipgate.MaxCommentLen)
	case ManualRollback:
		return shipgate.ValidateLine("reason", c.Reason, shipgate.MaxCommentLen)
	}
	return nil
}

// Decide computes what cmd changes of the observed release at now. It does
// no I/O and reads nothing but its arguments. A command the release's
// state does not allow returns an error for the person or runner who gave
// it (failed precondition, conflict, invalid) and no plan.
func Decide(obs Observed, cmd Command, now time.Time) (Plan, error) {
	if obs.Release == nil {
		return Plan{}, shipgate.Errorf(shipgate.EINTERNAL, "decide: no release observed")
	}
	if err := Validate(cmd); err != nil {
		return Plan{}, err
	}
	p := &planner{obs: obs, now: now, r: *obs.Release}
	switch c := cmd.(type) {
	case Tick:
		p.tick()
	case Create:
		p.create(c)
	case Decision:
		p.decision(c)
	case Cancel:
		p.cancel(c)
	case Rerun:
		p.rerun(c)
	case Hold:
		p.hold(c)
	case RollbackNow:
		p.rollbackNow(c)
	case CallOff:
		p.callOff(c)
	case ManualRollback:
		p.manualRollback(c)
	case FireRefused:
		p.fireRefused(c)
	case RollbackEnded:
		p.rollbackEnded(c)
	case Recovered:
		p.recovered(c)
	case Promote:
		p.promote(c)
	case Claim:
		p.claim(c)
	case Refuse:
		p.refuse(c)
	case Finish:
		p.finishJob(c)
	default:
		return Plan{}, shipgate.Errorf(shipgate.EINTERNAL, "decide: unknown command %T", cmd)
	}
	return p.result()
}

// fail refuses the command with err, unless an earlier error did.
func (p *planner) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

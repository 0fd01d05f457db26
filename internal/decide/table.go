package decide

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shipgate/shipgate"
)

// Entity is a kind of thing with states.
type Entity string

// The entities whose states the decider moves.
const (
	EntityRelease  Entity = "release"
	EntityRollback Entity = "rollback"
	EntityJob      Entity = "job"
	EntityApproval Entity = "approval"
	EntityRollout  Entity = "rollout"
)

// Trigger names what makes a transition happen: a command from a person,
// a report from a runner, or a fact the reconcile loop's tick sees when
// time passes.
type Trigger string

// Triggers.
const (
	// A person, through the API or the CLI.
	OnCreate         Trigger = "create"
	OnApprove        Trigger = "approve"
	OnReject         Trigger = "reject"
	OnCancel         Trigger = "cancel"
	OnRerun          Trigger = "rerun"
	OnHold           Trigger = "rollback_hold"
	OnRollbackNow    Trigger = "rollback_now"
	OnCallOff        Trigger = "called_off_by_person"
	OnManualRollback Trigger = "rollback"
	OnPromote        Trigger = "promote"

	// A runner.
	OnClaim     Trigger = "job_claimed"
	OnRefuse    Trigger = "job_refused"
	OnFinish    Trigger = "job_finished"
	OnHandBack  Trigger = "job_handed_back"
	OnRecovered Trigger = "check_recovered"

	// The clock and what follows from other changes (the tick).
	OnApprovalExpiry Trigger = "approval_expiry"
	OnApproved       Trigger = "approvals_met"
	OnLapse          Trigger = "approvals_lapsed"
	OnStart          Trigger = "start"
	OnLost           Trigger = "job_lost"
	OnNeedsMet       Trigger = "needs_met"
	OnNeedFailed     Trigger = "need_failed"
	OnRunEnded       Trigger = "run_ended"
	OnFire           Trigger = "rollback_fire"
	OnFireRefused    Trigger = "rollback_fire_refused"
	OnRollbackEnded  Trigger = "rollback_release_ended"
	OnSuperseded     Trigger = "superseded"
)

// None is the state of something that does not exist yet.
const None = ""

// Transition is one allowed state change and the audit actions that record
// it, in order.
type Transition struct {
	Entity Entity
	From   string
	To     string
	On     Trigger
	Events []string
	// Note says, for the diagram, when it happens.
	Note string
}

const (
	rPending   = string(shipgate.StatePendingApproval)
	rQueued    = string(shipgate.StateQueued)
	rRunning   = string(shipgate.StateRunning)
	rSucceeded = string(shipgate.StateSucceeded)
	rFailed    = string(shipgate.StateFailed)
	rRejected  = string(shipgate.StateRejected)
	rCancelled = string(shipgate.StateCancelled)
	rRolled    = string(shipgate.StateRolledBack)

	bPending     = string(shipgate.RollbackPending)
	bHeld        = string(shipgate.RollbackHeld)
	bCalledOff   = string(shipgate.RollbackCalledOff)
	bFired       = string(shipgate.RollbackFired)
	bDone        = string(shipgate.RollbackDone)
	bFailed      = string(shipgate.RollbackFailed)
	bUnavailable = string(shipgate.RollbackUnavailable)

	jWaiting   = string(shipgate.JobWaiting)
	jQueued    = string(shipgate.JobQueued)
	jRunning   = string(shipgate.JobRunning)
	jSucceeded = string(shipgate.JobSucceeded)
	jFailed    = string(shipgate.JobFailed)
	jSkipped   = string(shipgate.JobSkipped)
	jCancelled = string(shipgate.JobCancelled)

	aGiven   = "given"
	aExpired = "expired"

	oPaused = shipgate.RolloutPaused
)

func ev(actions ...string) []string { return actions }

// Transitions is the transition table: every state change of a release,
// a rollback, a job, an approval or a rollout's promotion that shipgate
// makes. Decide makes no other; docs/architecture.md draws it.
var Transitions = []Transition{
	// Releases.
	{EntityRelease, None, rPending, OnCreate, ev(shipgate.ActionReleaseCreated), "a release is prepared in full and waits for approval"},
	{EntityRelease, None, rQueued, OnCreate, ev(shipgate.ActionReleaseCreated, shipgate.ActionReleaseQueued), "a rollback release restoring a version that succeeded here needs no approval"},
	{EntityRelease, rPending, rPending, OnApprove, ev(shipgate.ActionReleaseApproved), "an approval that is not yet enough"},
	{EntityRelease, rPending, rQueued, OnApproved, ev(shipgate.ActionReleaseQueued), "the approvals the policy requires are given"},
	{EntityRelease, rPending, rRejected, OnReject, ev(shipgate.ActionReleaseRejected), "an approver rejects it"},
	{EntityRelease, rQueued, rPending, OnLapse, ev(shipgate.ActionApprovalsLapsed), "approvals expired or were withdrawn before it started"},
	{EntityRelease, rQueued, rRunning, OnStart, ev(shipgate.ActionReleaseStarted), "nothing ahead of it and its deploy window open (a rollback does not wait for the window)"},
	{EntityRelease, rRunning, rSucceeded, OnRunEnded, ev(shipgate.ActionReleaseSucceeded), "every job succeeded"},
	{EntityRelease, rRunning, rFailed, OnRunEnded, ev(shipgate.ActionReleaseFailed), "the run ended with a job not succeeded"},
	{EntityRelease, rPending, rCancelled, OnCancel, ev(shipgate.ActionReleaseCancelled), ""},
	{EntityRelease, rQueued, rCancelled, OnCancel, ev(shipgate.ActionReleaseCancelled), ""},
	{EntityRelease, rRunning, rCancelled, OnCancel, ev(shipgate.ActionReleaseCancelled), "running jobs are cancelled, the others skipped"},
	{EntityRelease, rFailed, rQueued, OnRerun, ev(shipgate.ActionReleaseRerun), "a new run of the same digest"},
	{EntityRelease, rFailed, rRolled, OnRollbackEnded, ev(shipgate.ActionReleaseRolledBack), "its rollback release succeeded"},
	{EntityRelease, rSucceeded, rRolled, OnRollbackEnded, ev(shipgate.ActionReleaseRolledBack), "a manual rollback of it succeeded"},

	// Rollbacks of a release.
	{EntityRollback, None, bPending, OnRunEnded, ev(shipgate.ActionRollbackPending), "the release failed and its policy rolls back after delay_seconds"},
	{EntityRollback, None, bUnavailable, OnRunEnded, ev(shipgate.ActionRollbackUnavailable), "the policy wants a rollback and there is nothing to restore"},
	{EntityRollback, bCalledOff, bPending, OnRunEnded, ev(shipgate.ActionRollbackPending), "its rerun failed too"},
	{EntityRollback, bFailed, bPending, OnRunEnded, ev(shipgate.ActionRollbackPending), "its rerun failed too"},
	{EntityRollback, bUnavailable, bPending, OnRunEnded, ev(shipgate.ActionRollbackPending), "its rerun failed too"},
	{EntityRollback, bCalledOff, bUnavailable, OnRunEnded, ev(shipgate.ActionRollbackUnavailable), "its rerun failed too, and there is nothing to restore"},
	{EntityRollback, bFailed, bUnavailable, OnRunEnded, ev(shipgate.ActionRollbackUnavailable), "its rerun failed too, and there is nothing to restore"},
	{EntityRollback, bUnavailable, bUnavailable, OnRunEnded, ev(shipgate.ActionRollbackUnavailable), "its rerun failed too, and there is nothing to restore"},
	{EntityRollback, bPending, bHeld, OnHold, ev(shipgate.ActionRollbackHeld), "`shipgate rollback hold`"},
	{EntityRollback, bPending, bPending, OnRollbackNow, ev(shipgate.ActionRollbackNow), "`shipgate rollback now`: fires at once"},
	{EntityRollback, bHeld, bPending, OnRollbackNow, ev(shipgate.ActionRollbackNow), "`shipgate rollback now`: fires at once"},
	{EntityRollback, bPending, bFired, OnFire, ev(shipgate.ActionRollbackFired), "its delay is over (or `rollback now`): the rollback release is created"},
	{EntityRollback, bFired, bUnavailable, OnFireRefused, ev(shipgate.ActionRollbackUnavailable), "its rollback release cannot be created: the artifact to restore went away while it waited"},
	{EntityRollback, bFired, bFailed, OnFireRefused, ev(shipgate.ActionRollbackFailed), "its rollback release cannot be created (the environment changed)"},
	{EntityRollback, bPending, bCalledOff, OnRecovered, ev(shipgate.ActionRollbackCalledOff), "the failed health check passed again"},
	{EntityRollback, bPending, bCalledOff, OnSuperseded, ev(shipgate.ActionRollbackCalledOff), "a newer release of the environment started"},
	{EntityRollback, bHeld, bCalledOff, OnSuperseded, ev(shipgate.ActionRollbackCalledOff), "a newer release of the environment started"},
	{EntityRollback, bHeld, bCalledOff, OnRerun, ev(shipgate.ActionRollbackCalledOff), "the release is rerun instead"},
	{EntityRollback, bPending, bCalledOff, OnCallOff, ev(shipgate.ActionRollbackCalledOff), "`shipgate rollback call-off`: a person ends it without rolling back"},
	{EntityRollback, bHeld, bCalledOff, OnCallOff, ev(shipgate.ActionRollbackCalledOff), "`shipgate rollback call-off`: a person ends it without rolling back"},
	{EntityRollback, bFired, bDone, OnRollbackEnded, nil, "the rollback release succeeded"},
	{EntityRollback, bFired, bFailed, OnRollbackEnded, ev(shipgate.ActionRollbackFailed), "the rollback release failed, was rejected or cancelled"},
	{EntityRollback, bFailed, bDone, OnRollbackEnded, nil, "its failed rollback release was rerun and succeeded"},
	{EntityRollback, bFailed, bFailed, OnRollbackEnded, ev(shipgate.ActionRollbackFailed), "its failed rollback release was rerun and failed again"},
	{EntityRollback, None, bDone, OnRollbackEnded, nil, "a rollback release with no rollback record (from before rollbacks were recorded) succeeded"},
	{EntityRollback, None, bFailed, OnRollbackEnded, ev(shipgate.ActionRollbackFailed), "a rollback release with no rollback record failed"},
	{EntityRollback, None, bFired, OnManualRollback, ev(shipgate.ActionRollbackFired), "`shipgate rollback SERVICE ENV`"},
	{EntityRollback, bCalledOff, bFired, OnManualRollback, ev(shipgate.ActionRollbackFired), "`shipgate rollback SERVICE ENV`"},
	{EntityRollback, bDone, bFired, OnManualRollback, ev(shipgate.ActionRollbackFired), "`shipgate rollback SERVICE ENV`"},
	{EntityRollback, bFailed, bFired, OnManualRollback, ev(shipgate.ActionRollbackFired), "`shipgate rollback SERVICE ENV`"},
	{EntityRollback, bUnavailable, bFired, OnManualRollback, ev(shipgate.ActionRollbackFired), "`shipgate rollback SERVICE ENV`"},

	// Jobs of a run.
	{EntityJob, None, jWaiting, OnStart, nil, "the run starts"},
	{EntityJob, jWaiting, jQueued, OnNeedsMet, nil, "every job it needs succeeded"},
	{EntityJob, jWaiting, jSkipped, OnNeedFailed, nil, "a job it needs did not succeed, or another job failed"},
	{EntityJob, jQueued, jSkipped, OnNeedFailed, nil, "another job of the run failed"},
	{EntityJob, jQueued, jRunning, OnClaim, ev(shipgate.ActionJobStarted), "a runner claims it under a lease"},
	{EntityJob, jQueued, jFailed, OnRefuse, ev(shipgate.ActionJobFinished), "the server cannot hand it out (its secrets cannot be opened)"},
	{EntityJob, jRunning, jSucceeded, OnFinish, ev(shipgate.ActionJobFinished), ""},
	{EntityJob, jQueued, jSucceeded, OnFinish, ev(shipgate.ActionJobFinished), "a success reported after its lease ran out is taken"},
	{EntityJob, jRunning, jQueued, OnFinish, ev(shipgate.ActionJobRetry), "the attempt failed and attempts are left"},
	{EntityJob, jRunning, jFailed, OnFinish, ev(shipgate.ActionJobFinished), "the attempt failed and no attempt is left"},
	{EntityJob, jCancelled, jCancelled, OnFinish, ev(shipgate.ActionJobFinished), "the runner reports how the cancelled attempt ended"},
	{EntityJob, jRunning, jQueued, OnHandBack, ev(shipgate.ActionJobRetry), "handed back unstarted: queued again without using an attempt"},
	{EntityJob, jRunning, jFailed, OnHandBack, ev(shipgate.ActionJobFinished), "handed back unstarted too often"},
	{EntityJob, jRunning, jQueued, OnLost, ev(shipgate.ActionJobRetry), "its lease ran out and attempts are left"},
	{EntityJob, jRunning, jFailed, OnLost, ev(shipgate.ActionJobFinished), "its lease ran out and no attempt is left"},
	{EntityJob, jWaiting, jSkipped, OnCancel, nil, "the release is cancelled"},
	{EntityJob, jQueued, jSkipped, OnCancel, nil, "the release is cancelled"},
	{EntityJob, jRunning, jCancelled, OnCancel, nil, "the release is cancelled; the runner is told to stop"},

	// Approvals of a release.
	{EntityApproval, None, aGiven, OnApprove, nil, "recorded with the release.approved event"},
	{EntityApproval, aGiven, aExpired, OnApprovalExpiry, ev(shipgate.ActionApprovalExpired), "expires_after has passed"},

	// The promotion of a paused rollout (its other phases are the agent's).
	{EntityRollout, oPaused, oPaused, OnPromote, ev(shipgate.ActionRolloutPromoted), "`shipgate promote`: the agent moves on at its next report"},
}

// Find returns the transition of entity from → to on trigger, if listed.
func Find(e Entity, from, to string, on Trigger) (Transition, bool) {
	for _, t := range Transitions {
		if t.Entity == e && t.From == from && t.To == to && t.On == on {
			return t, true
		}
	}
	return Transition{}, false
}

// Step is one transition a plan makes, of the entity with ID (a release
// ID, a job ID, an approval ID; a rollback has its release's ID).
type Step struct {
	Entity Entity
	ID     int64
	Name   string // a job's name
	From   string
	To     string
	On     Trigger
}

func (s Step) String() string {
	what := fmt.Sprintf("%s %d", s.Entity, s.ID)
	if s.Name != "" {
		what = fmt.Sprintf("%s %s", s.Entity, s.Name)
	}
	from := s.From
	if from == None {
		from = "(new)"
	}
	return fmt.Sprintf("%s: %s → %s on %s", what, from, s.To, s.On)
}

// CheckSteps reports the first step of p the table does not list, or whose
// audit actions are not exactly the ones p records for it. Plans record
// their events step by step, so the events of p are the concatenation of
// its steps' events, plus the events that are no state change (attention
// timers) listed in Untransitioned.
func CheckSteps(p *Plan) error {
	var want []string
	for _, s := range p.Steps {
		t, ok := Find(s.Entity, s.From, s.To, s.On)
		if !ok {
			return shipgate.Errorf(shipgate.EINTERNAL, "unlisted transition %s", s)
		}
		want = append(want, t.Events...)
	}
	var got []string
	for _, e := range p.Events {
		if !slices.Contains(Untransitioned, e.Action) {
			got = append(got, e.Action)
		}
	}
	if !slices.Equal(want, got) {
		return shipgate.Errorf(shipgate.EINTERNAL, "plan records events [%s] for steps whose table events are [%s]", strings.Join(got, " "), strings.Join(want, " "))
	}
	return nil
}

// Untransitioned lists the audit actions a plan records that change no
// state of the table: the reminders of a wait for a person.
var Untransitioned = []string{shipgate.ActionAttentionReminded, shipgate.ActionAttentionEscalated, shipgate.ActionAttentionResolved}

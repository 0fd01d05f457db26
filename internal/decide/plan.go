package decide

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
)

// Observed is what the decider sees of one release: the release and, by
// command, what a decision on it needs. The caller loads it in the
// transaction that applies the plan.
type Observed struct {
	Release   *shipgate.Release
	Approvals []shipgate.Approval
	// PolicyHold, when set, is why a policy gate keeps a queued release
	// from starting (reconcile's start gate); the release waits in queued.
	PolicyHold string
	// Jobs are the jobs of the release's current run (empty before the
	// first run).
	Jobs []shipgate.JobRun
	// Ahead is a release of the same service and environment that must
	// finish before this one may start: one that is running, or queued
	// before it. Releases to one environment run one at a time, in order.
	Ahead *shipgate.Release
	// Rollback is the rollback of the release, if it has one.
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
	// Superseded are the open (pending or held) rollbacks of older
	// releases of the environment, loaded for a queued release that may
	// start: starting it calls them off.
	Superseded []shipgate.Rollback
	// NewerSucceeded is the newest release of the environment that
	// succeeded after this one, for a rerun; RollbackRelease is the
	// release a fired rollback of this one created, for a rerun.
	NewerSucceeded  *shipgate.Release
	RollbackRelease *shipgate.Release
	// Busy is a release of the environment that is queued or running, for
	// a manual rollback.
	Busy *shipgate.Release
	// Rollouts are the stored rollouts of the current attempts of the
	// run's jobs, for promote.
	Rollouts []shipgate.Rollout
	// Checklist is the release's checklist as evaluated now (automated
	// items against its current evidence, manual ones by their ticks),
	// loaded for an approve decision and for a queued release.
	Checklist []shipgate.ChecklistItemState
	// Freezes are the freezes, current or to come, that may hold the
	// release (loaded for a queued release), and FreezeOverride its
	// emergency override, if one was requested.
	Freezes        []shipgate.Freeze
	FreezeOverride *shipgate.FreezeOverride
}

// Event is an audit event a plan records. Release is the release it is
// about (its subject); Pending values in Details are filled in by Bind
// once the store has assigned the IDs they stand for.
type Event struct {
	Actor   string
	Action  string
	Release int64
	Details map[string]any
}

// Pending stands, in a planned event or record, for an ID the store
// assigns when it applies the plan.
type Pending string

// IDs a plan may refer to before they exist.
const (
	NewApproval        Pending = "new approval"
	NewRollbackRelease Pending = "new rollback release"
)

// Audit returns the event as the audit log records it.
func (e Event) Audit() shipgate.AuditEvent {
	return shipgate.NewAuditEvent(e.Actor, e.Action, shipgate.ReleaseSubject(e.Release), e.Details)
}

// MarshalJSON lets tests print plans.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"actor": e.Actor, "action": e.Action, "release": e.Release, "details": e.Details})
}

// Plan is what to change. Zero value: nothing.
type Plan struct {
	// Release is the release with new lifecycle fields, or nil. With
	// Insert it is a new release to create.
	Release *shipgate.Release
	Insert  bool
	// StartRun asks for NewJobs, the jobs of Release.Run, to be created.
	StartRun bool
	NewJobs  []shipgate.JobRun
	// Approval is a decision to record.
	Approval *shipgate.Approval
	// ExpireApprovals lists approvals whose expiry is to be recorded.
	ExpireApprovals []int64
	// Jobs lists jobs with changed fields.
	Jobs []shipgate.JobRun
	// Rollbacks are rollback records to create or update: the release's
	// own, or those of older releases its start supersedes.
	Rollbacks []shipgate.Rollback
	// Fire asks for the rollback release of Fire.Of to be created,
	// restoring release Fire.Target; the plan's Pending
	// NewRollbackRelease stands for it.
	Fire *Fire
	// EndRollback asks for the decision on the release a rollback release
	// rolls back, now that it ended: RollbackEnded{Succeeded}.
	EndRollback *RollbackEnded
	// Mitigate, with a run that ends failed, asks for the mitigations of
	// the release's rollback policy to flip, saying why (set with the
	// failure, never alone; see Release.MitigationTriggered).
	Mitigate string
	// Promote lists rollouts whose promoted_through is raised.
	Promote []shipgate.Rollout
	// Attentions are waits for a person to open, update or close.
	Attentions []AttentionChange
	// Steps are the transitions the plan makes, in order; Events record
	// them (and the attention timers), in the same order.
	Steps  []Step
	Events []Event
	// Wake is when the release should next be looked at without an outside
	// trigger; zero means only on a trigger.
	Wake time.Time
}

// Fire is the rollback release a plan asks for.
type Fire struct {
	Of, Target  int64
	TriggeredBy string
	Actor       string
	Reason      string
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return p.Release == nil && !p.StartRun && p.Approval == nil && len(p.ExpireApprovals) == 0 && len(p.Jobs) == 0 &&
		len(p.Events) == 0 && len(p.Rollbacks) == 0 && p.Fire == nil && p.EndRollback == nil && len(p.Promote) == 0 &&
		len(p.Attentions) == 0 && len(p.Steps) == 0
}

// AuditEvents returns the plan's events as the audit log records them.
func (p *Plan) AuditEvents() []shipgate.AuditEvent {
	out := make([]shipgate.AuditEvent, len(p.Events))
	for i, e := range p.Events {
		out[i] = e.Audit()
	}
	return out
}

// Bind fills in the IDs the store assigned while applying the plan: a new
// release's (events about release 0 are about it), and those Pending
// values stand for.
func (p *Plan) Bind(release int64, ids map[Pending]int64) {
	if p.Release != nil && p.Release.ID == 0 {
		p.Release.ID = release
	}
	for i := range p.Steps {
		if p.Steps[i].ID == 0 && p.Steps[i].Entity == EntityRelease {
			p.Steps[i].ID = release
		}
	}
	for i := range p.Events {
		if p.Events[i].Release == 0 {
			p.Events[i].Release = release
		}
		for k, v := range p.Events[i].Details {
			if pend, ok := v.(Pending); ok {
				if id, ok := ids[pend]; ok {
					p.Events[i].Details[k] = id
				}
			}
		}
	}
	if id, ok := ids[NewRollbackRelease]; ok {
		for i := range p.Rollbacks {
			rb := &p.Rollbacks[i]
			if rb.RollbackRelease == 0 && rb.State == shipgate.RollbackFired {
				rb.RollbackRelease = id
				if rb.Reason == "" {
					rb.Reason = fmt.Sprintf("rollback release %d restores version %s", id, rb.TargetVersion)
				}
			}
		}
	}
}

// AttentionChange is an attention to write; Fresh ones are new.
type AttentionChange struct {
	Attention shipgate.Attention
	Fresh     bool
}

// planner accumulates a plan; r is a private copy of the release.
type planner struct {
	obs     Observed
	now     time.Time
	r       shipgate.Release
	changed bool
	plan    Plan
	err     error
}

// event records an event that is no state change of the table.
func (p *planner) event(action string, details map[string]any) {
	p.plan.Events = append(p.plan.Events, Event{Actor: shipgate.SystemActor, Action: action, Release: p.r.ID, Details: details})
}

// move records step s, made by actor, with the details of each audit
// event the table lists for it (one map per event, in order). A step the
// table does not list fails the plan.
func (p *planner) move(s Step, actor string, details ...map[string]any) {
	t, ok := Find(s.Entity, s.From, s.To, s.On)
	if !ok || len(details) != len(t.Events) {
		if p.err == nil {
			p.err = shipgate.Errorf(shipgate.EINTERNAL, "the decider planned an unlisted transition: %s", s)
		}
		return
	}
	p.plan.Steps = append(p.plan.Steps, s)
	subject := p.r.ID
	if s.Entity == EntityRollback {
		subject = s.ID
	}
	for i, action := range t.Events {
		p.plan.Events = append(p.plan.Events, Event{Actor: actor, Action: action, Release: subject, Details: details[i]})
	}
}

// setState moves the release to state on trigger, made by actor.
func (p *planner) setState(to shipgate.ReleaseState, on Trigger, actor string, details ...map[string]any) {
	p.move(Step{Entity: EntityRelease, ID: p.r.ID, From: string(p.r.State), To: string(to), On: on}, actor, details...)
	p.r.State, p.changed = to, true
}

// jobStep records job j's move to state to on trigger.
func (p *planner) jobStep(j *shipgate.JobRun, to shipgate.JobState, on Trigger, details ...map[string]any) {
	p.move(Step{Entity: EntityJob, ID: j.ID, Name: j.Name, From: string(j.State), To: string(to), On: on}, shipgate.SystemActor, details...)
	j.State = to
}

// rollbackStep records rollback rb's move to state to on trigger.
func (p *planner) rollbackStep(rb *shipgate.Rollback, from shipgate.RollbackState, to shipgate.RollbackState, on Trigger, actor string, details ...map[string]any) {
	p.move(Step{Entity: EntityRollback, ID: rb.ReleaseID, From: string(from), To: string(to), On: on}, actor, details...)
	rb.State = to
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

// finish ends the release in state (on trigger, by actor) with reason.
func (p *planner) finish(state shipgate.ReleaseState, on Trigger, actor, reason string, details ...map[string]any) {
	now := p.now
	p.setState(state, on, actor, details...)
	p.r.Reason, p.r.WaitUntil, p.r.FinishedAt = reason, nil, &now
}

// result returns the plan, or the error that refuses the command.
func (p *planner) result() (Plan, error) {
	if p.err != nil {
		return Plan{}, p.err
	}
	if p.changed {
		r := p.r
		p.plan.Release = &r
	}
	return p.plan, nil
}

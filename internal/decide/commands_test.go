package decide

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// Table tests: every command in every state. A command either is refused
// with the error code a person or runner gets (and no plan), or plans
// exactly the listed steps, which the transition table allows, with
// exactly the table's audit events.

const subjectID = 10

var (
	rollbackStates = []shipgate.RollbackState{None, shipgate.RollbackPending, shipgate.RollbackHeld, shipgate.RollbackCalledOff,
		shipgate.RollbackFired, shipgate.RollbackDone, shipgate.RollbackFailed, shipgate.RollbackUnavailable}
	jobStates = []shipgate.JobState{shipgate.JobWaiting, shipgate.JobQueued, shipgate.JobRunning, shipgate.JobSucceeded,
		shipgate.JobFailed, shipgate.JobSkipped, shipgate.JobCancelled}

	approver = &shipgate.User{Name: "bob", Roles: []shipgate.Role{shipgate.RoleApprover}}
	// good is the release a rollback restores: version 1.0.0 succeeded here.
	good = &shipgate.Release{ID: 7, State: shipgate.StateSucceeded, ReleaseContent: shipgate.ReleaseContent{Service: "web", Environment: "production", Version: "1.0.0"}}
)

func policy() shipgate.Environment {
	return shipgate.Environment{Name: "production",
		Approvals: shipgate.ApprovalPolicy{Required: 1, ExpiresAfter: shipgate.Duration(time.Hour)},
		Rollback:  shipgate.RollbackPolicy{Enabled: true, DelaySeconds: 300, Mode: shipgate.RollbackLastSuccessful}}
}

// subject is release 10 (version 2.0.0, created by carol) in state.
func subject(state shipgate.ReleaseState) *shipgate.Release {
	r := release(state, policy())
	r.ID, r.Version, r.Digest, r.CreatedBy, r.Kind = subjectID, "2.0.0", "sha256:new", "carol", shipgate.ReleaseKindDeploy
	switch state {
	case shipgate.StatePendingApproval, shipgate.StateQueued, shipgate.StateRejected:
	default:
		r.Run = 1
	}
	return r
}

// typical observes the subject in state as it usually is there: one
// valid approval by alice; in a run, jobs that got as far as the state
// says; deploy-a's rollout paused for promote.
func typical(state shipgate.ReleaseState) Observed {
	approvedAt := now.Add(-time.Minute)
	exp := approvedAt.Add(time.Hour)
	obs := Observed{Release: subject(state), Approvals: []shipgate.Approval{
		{ID: 1, ReleaseID: subjectID, Actor: "alice", Decision: shipgate.DecisionApprove, Digest: "sha256:new", CreatedAt: approvedAt, ExpiresAt: &exp},
	}}
	const (
		W, R, S = shipgate.JobWaiting, shipgate.JobRunning, shipgate.JobSucceeded
		F, K, C = shipgate.JobFailed, shipgate.JobSkipped, shipgate.JobCancelled
	)
	lease := now.Add(time.Minute)
	switch state {
	case shipgate.StateRunning:
		obs.Jobs = jobs(S, R, W, W)
		obs.Jobs[1].LeaseUntil, obs.Jobs[1].Runner = &lease, "agent-1"
	case shipgate.StateSucceeded:
		obs.Jobs = jobs(S, S, S, S)
	case shipgate.StateFailed, shipgate.StateRolledBack:
		obs.Jobs = jobs(S, F, K, K)
	case shipgate.StateCancelled:
		obs.Jobs = jobs(S, C, K, K)
	}
	for i := range obs.Jobs {
		if obs.Jobs[i].State != W && obs.Jobs[i].State != K {
			obs.Jobs[i].Attempt = 1
		}
	}
	if len(obs.Jobs) > 0 {
		obs.Rollouts = []shipgate.Rollout{{JobID: 2, Job: "deploy-a", Attempt: 1, PromotedThrough: -1,
			Status: shipgate.RolloutStatus{Phase: shipgate.RolloutPaused, Step: 2, Steps: 3, Pause: 1, Paused: "manual pause"}}}
	}
	return obs
}

// outcome is what a command should come to.
type outcome struct {
	code   string   // the error code it is refused with; "" for a plan
	steps  []string // the plan's steps (Step.String), in order
	events []string // the plan's audit actions, in order
}

func refusedWith(code string) outcome { return outcome{code: code} }

// planned is a plan of steps whose events are the table's, in order.
func planned(steps ...Step) outcome {
	var o outcome
	for _, s := range steps {
		o.steps = append(o.steps, s.String())
		// A step the table lacks expects no events: expect then fails on
		// the steps, saying which.
		t, _ := Find(s.Entity, s.From, s.To, s.On)
		o.events = append(o.events, t.Events...)
	}
	return o
}

var nothing = outcome{}

func rs(from, to shipgate.ReleaseState, on Trigger) Step {
	return Step{Entity: EntityRelease, ID: subjectID, From: string(from), To: string(to), On: on}
}

func bs(from, to shipgate.RollbackState, on Trigger) Step {
	return Step{Entity: EntityRollback, ID: subjectID, From: string(from), To: string(to), On: on}
}

func js(name string, from, to shipgate.JobState, on Trigger) Step {
	return Step{Entity: EntityJob, Name: name, From: string(from), To: string(to), On: on}
}

func startSteps() []Step {
	out := []Step{rs(shipgate.StateQueued, shipgate.StateRunning, OnStart)}
	for _, n := range []string{"build", "deploy-a", "deploy-b", "smoke"} {
		out = append(out, js(n, None, shipgate.JobWaiting, OnStart))
	}
	return out
}

// expect runs Decide and holds its result to want: a refusal with no
// plan, or a plan CheckSteps passes with exactly want's steps and events.
func expect(t *testing.T, obs Observed, cmd Command, want outcome) Plan {
	t.Helper()
	p, err := Decide(obs, cmd, now)
	if want.code != "" {
		if err == nil {
			t.Fatalf("%T planned %q, want a %s error", cmd, stepStrings(p), want.code)
		}
		if got := shipgate.ErrorCode(err); got != want.code {
			t.Fatalf("%T refused with %s (%v), want %s", cmd, got, err, want.code)
		}
		if !p.Empty() {
			t.Fatalf("%T refused (%v) with a plan: %+v", cmd, err, p)
		}
		return p
	}
	if err != nil {
		t.Fatalf("%T refused: %v", cmd, err)
	}
	if err := CheckSteps(&p); err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	if got := stepStrings(p); !slices.Equal(got, want.steps) {
		t.Fatalf("%T steps:\n got %q\nwant %q", cmd, got, want.steps)
	}
	if got := actionList(p); !slices.Equal(got, want.events) {
		t.Fatalf("%T events:\n got %q\nwant %q", cmd, got, want.events)
	}
	return p
}

func stepStrings(p Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.String())
	}
	return out
}

func actionList(p Plan) []string {
	var out []string
	for _, e := range p.Events {
		out = append(out, e.Action)
	}
	return out
}

// event returns the plan's only event with action, failing the test
// otherwise.
func event(t *testing.T, p Plan, action string) Event {
	t.Helper()
	var found []Event
	for _, e := range p.Events {
		if e.Action == action {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s events in %s", len(found), action, actionList(p))
	}
	return found[0]
}

// hasDetails fails the test unless e has actor and every detail of want.
func hasDetails(t *testing.T, e Event, actor string, want map[string]any) {
	t.Helper()
	if e.Actor != actor {
		t.Errorf("%s by %q, want %q", e.Action, e.Actor, actor)
	}
	for k, v := range want {
		got, ok := e.Details[k]
		if !ok || !equalJSON(got, v) {
			b, _ := json.Marshal(e.Details)
			t.Errorf("%s: %s = %v, want %v (details %s)", e.Action, k, got, v, b)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestEveryCommandInEveryReleaseState(t *testing.T) {
	const (
		P, Q, R, S = shipgate.StatePendingApproval, shipgate.StateQueued, shipgate.StateRunning, shipgate.StateSucceeded
		F, J, C, B = shipgate.StateFailed, shipgate.StateRejected, shipgate.StateCancelled, shipgate.StateRolledBack
	)
	fp, conflict, internal := refusedWith(shipgate.EFAILEDPRECONDITION), refusedWith(shipgate.ECONFLICT), refusedWith(shipgate.EINTERNAL)
	approve := Decision{Approve: true, Approver: approver, Digest: "sha256:new", Comment: "ok"}
	reject := Decision{Approver: approver, Digest: "sha256:new", Comment: "no"}
	claim := Claim{Job: shipgate.JobRun{ID: 3, ReleaseID: subjectID, Run: 1, Name: "deploy-b", State: shipgate.JobQueued, MaxAttempts: 1}, Runner: "agent-2", ClaimID: "c-1", LeaseUntil: now.Add(time.Minute)}
	promoted := Step{Entity: EntityRollout, ID: 2, Name: "deploy-a", From: oPaused, To: oPaused, On: OnPromote}
	manual := planned(bs(None, shipgate.RollbackFired, OnManualRollback))
	tests := []struct {
		cmd  Command
		want map[shipgate.ReleaseState]outcome
	}{
		{Tick{}, map[shipgate.ReleaseState]outcome{
			P: planned(rs(P, Q, OnApproved)),
			Q: planned(startSteps()...),
			R: planned(js("deploy-b", shipgate.JobWaiting, shipgate.JobQueued, OnNeedsMet)),
			S: nothing, F: nothing, J: nothing, C: nothing, B: nothing,
		}},
		{Create{Actor: "carol"}, map[shipgate.ReleaseState]outcome{P: internal, Q: internal, R: internal, S: internal, F: internal, J: internal, C: internal, B: internal}},
		{approve, map[shipgate.ReleaseState]outcome{
			P: planned(Step{Entity: EntityApproval, From: None, To: aGiven, On: OnApprove}, rs(P, P, OnApprove)),
			Q: fp, R: fp, S: fp, F: fp, J: fp, C: fp, B: fp,
		}},
		{reject, map[shipgate.ReleaseState]outcome{P: planned(rs(P, J, OnReject)), Q: fp, R: fp, S: fp, F: fp, J: fp, C: fp, B: fp}},
		{Cancel{Actor: "carol", Reason: "wrong build"}, map[shipgate.ReleaseState]outcome{
			P: planned(rs(P, C, OnCancel)),
			Q: planned(rs(Q, C, OnCancel)),
			R: planned(rs(R, C, OnCancel), js("deploy-a", shipgate.JobRunning, shipgate.JobCancelled, OnCancel),
				js("deploy-b", shipgate.JobWaiting, shipgate.JobSkipped, OnCancel), js("smoke", shipgate.JobWaiting, shipgate.JobSkipped, OnCancel)),
			S: fp, F: fp, J: fp, C: fp, B: fp,
		}},
		{Rerun{Actor: "carol"}, map[shipgate.ReleaseState]outcome{F: planned(rs(F, Q, OnRerun)), P: fp, Q: fp, R: fp, S: fp, J: fp, C: fp, B: fp}},
		{Promote{Actor: "carol", Comment: "looks good"}, map[shipgate.ReleaseState]outcome{
			R: planned(promoted),
			P: conflict, Q: conflict, S: conflict, F: conflict, J: conflict, C: conflict, B: conflict,
		}},
		{claim, map[shipgate.ReleaseState]outcome{
			R: planned(js("deploy-b", shipgate.JobQueued, shipgate.JobRunning, OnClaim)),
			P: nothing, Q: nothing, S: nothing, F: nothing, J: nothing, C: nothing, B: nothing,
		}},
		// Only the environment's current release, one that succeeded or
		// failed, can be rolled back by hand.
		{ManualRollback{Actor: "carol", Reason: "bad", Target: good}, map[shipgate.ReleaseState]outcome{
			S: manual, F: manual,
			P: fp, Q: fp, R: fp, J: fp, C: fp, B: fp,
		}},
	}
	for _, tt := range tests {
		for _, state := range shipgate.ReleaseStates {
			want, ok := tt.want[state]
			if !ok {
				t.Fatalf("%T: no outcome for %s", tt.cmd, state)
			}
			t.Run(string(tt.cmd.Trigger())+"/"+string(state), func(t *testing.T) {
				expect(t, typical(state), tt.cmd, want)
			})
		}
	}
}

func TestCreate(t *testing.T) {
	r := subject(None)
	r.ID = 0
	p := expect(t, Observed{Release: r}, Create{Actor: "carol", Details: map[string]any{"version": "2.0.0"}},
		outcome{steps: []string{"release 0: (new) → pending_approval on create"}, events: []string{shipgate.ActionReleaseCreated}})
	if !p.Insert || p.Release == nil || p.Release.State != shipgate.StatePendingApproval || p.Release.Generation != 1 {
		t.Fatalf("plan: %+v", p)
	}
	hasDetails(t, p.Events[0], "carol", map[string]any{"version": "2.0.0"})

	// A rollback release that restores a version proven here is queued at
	// once, and the queue is the system's doing.
	rr := subject(None)
	rr.ID, rr.Kind, rr.RollbackOf, rr.RestoresRelease, rr.ApprovalSkipped = 0, shipgate.ReleaseKindRollback, subjectID, good.ID, "restores a version that succeeded"
	p = expect(t, Observed{Release: rr}, Create{Actor: "carol"},
		outcome{steps: []string{"release 0: (new) → queued on create"}, events: []string{shipgate.ActionReleaseCreated, shipgate.ActionReleaseQueued}})
	hasDetails(t, p.Events[1], shipgate.SystemActor, map[string]any{"approval": "restores a version that succeeded"})
	if p.Events[0].Actor != "carol" || p.Release.State != shipgate.StateQueued {
		t.Fatalf("rollback release: %+v", p)
	}
}

func TestDecisionChecks(t *testing.T) {
	obs := typical(shipgate.StatePendingApproval)
	ok := Decision{Approve: true, Approver: approver, Digest: "sha256:new", Comment: "ok", TokenID: 4, TokenCreatedBy: "root"}
	p := expect(t, obs, ok, planned(Step{Entity: EntityApproval, From: None, To: aGiven, On: OnApprove},
		rs(shipgate.StatePendingApproval, shipgate.StatePendingApproval, OnApprove)))
	hasDetails(t, p.Events[0], "bob", map[string]any{"digest": "sha256:new", "comment": "ok", "approval_id": NewApproval,
		"token_id": 4, "token_created_by": "root", "expires_at": now.Add(time.Hour).Format(time.RFC3339Nano)})
	if p.Approval == nil || p.Approval.Actor != "bob" || p.Approval.ExpiresAt == nil || p.Release != nil {
		t.Fatalf("approval: %+v, release %+v", p.Approval, p.Release)
	}

	for name, tt := range map[string]struct {
		d    Decision
		code string
	}{
		"seen another digest":  {Decision{Approve: true, Approver: approver, Digest: "sha256:old"}, shipgate.ECONFLICT},
		"not an approver":      {Decision{Approve: true, Approver: &shipgate.User{Name: "dave", Roles: []shipgate.Role{shipgate.RoleDeployer}}, Digest: "sha256:new"}, shipgate.EFORBIDDEN},
		"self-approval":        {Decision{Approve: true, Approver: &shipgate.User{Name: "carol", Roles: []shipgate.Role{shipgate.RoleApprover}}, Digest: "sha256:new"}, shipgate.EFORBIDDEN},
		"comment of two lines": {Decision{Approve: true, Approver: approver, Digest: "sha256:new", Comment: "a\nb"}, shipgate.EINVALID},
		"reject, other digest": {Decision{Approver: approver, Digest: "sha256:old"}, shipgate.ECONFLICT},
	} {
		t.Run(name, func(t *testing.T) { expect(t, obs, tt.d, refusedWith(tt.code)) })
	}

	p = expect(t, obs, Decision{Approver: approver, Digest: "sha256:new", Comment: "not today"},
		planned(rs(shipgate.StatePendingApproval, shipgate.StateRejected, OnReject)))
	hasDetails(t, p.Events[0], "bob", map[string]any{"comment": "not today"})
	if p.Release.Reason != "rejected by bob: not today" || p.Release.FinishedAt == nil || p.EndRollback != nil {
		t.Fatalf("rejected: %+v", p.Release)
	}
}

func TestPersonsTextIsChecked(t *testing.T) {
	bad := "two\nlines"
	failed := typical(shipgate.StateFailed)
	failed.Rollback = &shipgate.Rollback{ReleaseID: subjectID, State: shipgate.RollbackPending}
	for _, tt := range []struct {
		obs Observed
		cmd Command
	}{
		{typical(shipgate.StateRunning), Cancel{Actor: "carol", Reason: bad}},
		{failed, Hold{Actor: "carol", Reason: bad}},
		{failed, RollbackNow{Actor: "carol", Reason: bad}},
		{failed, CallOff{Actor: "carol", Reason: bad}},
		{failed, CallOff{Actor: "carol"}},
		{typical(shipgate.StateSucceeded), ManualRollback{Actor: "carol", Reason: bad, Target: good}},
		{typical(shipgate.StateRunning), Promote{Actor: "carol", Comment: bad}},
		{typical(shipgate.StateRunning), Cancel{Actor: "carol", Reason: strings.Repeat("x", shipgate.MaxCommentLen+1)}},
	} {
		t.Run(string(tt.cmd.Trigger()), func(t *testing.T) { expect(t, tt.obs, tt.cmd, refusedWith(shipgate.EINVALID)) })
	}
}

func TestCancelEndsTheRun(t *testing.T) {
	p := expect(t, typical(shipgate.StateRunning), Cancel{Actor: "carol", Reason: "wrong build"},
		planned(rs(shipgate.StateRunning, shipgate.StateCancelled, OnCancel), js("deploy-a", shipgate.JobRunning, shipgate.JobCancelled, OnCancel),
			js("deploy-b", shipgate.JobWaiting, shipgate.JobSkipped, OnCancel), js("smoke", shipgate.JobWaiting, shipgate.JobSkipped, OnCancel)))
	hasDetails(t, p.Events[0], "carol", map[string]any{"from_state": "running", "reason": "wrong build", "run": 1})
	if p.Release.Reason != "cancelled by carol: wrong build" || p.Release.FinishedAt == nil {
		t.Fatalf("release: %+v", p.Release)
	}
	for _, j := range p.Jobs {
		if j.FinishedAt == nil || j.LeaseUntil != nil || !strings.Contains(j.Reason, "cancelled by carol") {
			t.Errorf("job %s: %+v", j.Name, j)
		}
	}
}

// Every job command with the job in every state, on a running release.
func TestEveryJobCommandInEveryJobState(t *testing.T) {
	const (
		W, Q, R, S = shipgate.JobWaiting, shipgate.JobQueued, shipgate.JobRunning, shipgate.JobSucceeded
		F, K, C    = shipgate.JobFailed, shipgate.JobSkipped, shipgate.JobCancelled
	)
	exit1 := 1
	lease := now.Add(time.Minute)
	jobIn := func(state shipgate.JobState, attempt, maxAttempts int) shipgate.JobRun {
		j := shipgate.JobRun{ID: 2, ReleaseID: subjectID, Run: 1, Name: "deploy-a", State: state, Attempt: attempt, MaxAttempts: maxAttempts, Runner: "agent-1"}
		if state == R {
			j.LeaseUntil = &lease
		}
		return j
	}
	a := func(from, to shipgate.JobState, on Trigger) outcome { return planned(js("deploy-a", from, to, on)) }
	tests := []struct {
		name string
		cmd  func(j shipgate.JobRun) Command
		want map[shipgate.JobState]outcome
	}{
		{"claim", func(j shipgate.JobRun) Command {
			return Claim{Job: j, Runner: "agent-2", ClaimID: "c", LeaseUntil: lease}
		}, map[shipgate.JobState]outcome{Q: a(Q, R, OnClaim), W: nothing, R: nothing, S: nothing, F: nothing, K: nothing, C: nothing}},
		{"refuse", func(j shipgate.JobRun) Command {
			return Refuse{Job: j, Reason: "its secrets cannot be opened"}
		}, map[shipgate.JobState]outcome{Q: a(Q, F, OnRefuse), W: nothing, R: nothing, S: nothing, F: nothing, K: nothing, C: nothing}},
		{"finish succeeded", func(j shipgate.JobRun) Command {
			return Finish{Job: j, Runner: "agent-1", Outcome: shipgate.JobOutcome{Succeeded: true}}
		}, map[shipgate.JobState]outcome{R: a(R, S, OnFinish), C: a(C, C, OnFinish), W: nothing, Q: nothing, S: nothing, F: nothing, K: nothing}},
		{"finish succeeded after the lease ran out", func(j shipgate.JobRun) Command {
			if j.State == Q {
				j.Cause = shipgate.JobCauseLost // queued again for its lost lease
			}
			return Finish{Job: j, Runner: "agent-1", Outcome: shipgate.JobOutcome{Succeeded: true}}
		}, map[shipgate.JobState]outcome{R: a(R, S, OnFinish), Q: a(Q, S, OnFinish), C: a(C, C, OnFinish), W: nothing, S: nothing, F: nothing, K: nothing}},
		{"finish failed, attempts left", func(j shipgate.JobRun) Command {
			j.MaxAttempts = 2
			return Finish{Job: j, Runner: "agent-1", Outcome: shipgate.JobOutcome{ExitCode: &exit1, Reason: "exit 1"}}
		}, map[shipgate.JobState]outcome{R: a(R, Q, OnFinish), C: a(C, C, OnFinish), W: nothing, Q: nothing, S: nothing, F: nothing, K: nothing}},
		{"finish failed, no attempt left", func(j shipgate.JobRun) Command {
			return Finish{Job: j, Runner: "agent-1", Outcome: shipgate.JobOutcome{ExitCode: &exit1, Reason: "exit 1"}}
		}, map[shipgate.JobState]outcome{R: a(R, F, OnFinish), C: a(C, C, OnFinish), W: nothing, Q: nothing, S: nothing, F: nothing, K: nothing}},
		{"handed back", func(j shipgate.JobRun) Command {
			return Finish{Job: j, Runner: "agent-1", Outcome: shipgate.JobOutcome{NotStarted: true, Reason: "lost the assignment"}}
		}, map[shipgate.JobState]outcome{R: a(R, Q, OnHandBack), C: a(C, C, OnFinish), W: nothing, Q: nothing, S: nothing, F: nothing, K: nothing}},
		{"handed back too often", func(j shipgate.JobRun) Command {
			j.MaxAttempts += MaxHandBacks
			return Finish{Job: j, Runner: "agent-1", Outcome: shipgate.JobOutcome{NotStarted: true, Reason: "lost the assignment"}}
		}, map[shipgate.JobState]outcome{R: a(R, F, OnHandBack), C: a(C, C, OnFinish), W: nothing, Q: nothing, S: nothing, F: nothing, K: nothing}},
	}
	for _, tt := range tests {
		for _, state := range jobStates {
			t.Run(tt.name+"/"+string(state), func(t *testing.T) {
				expect(t, typical(shipgate.StateRunning), tt.cmd(jobIn(state, 1, 1)), tt.want[state])
			})
		}
	}
	// A release cancelled with the job in each state: what has not started
	// is skipped, what runs is cancelled, what ended stays.
	cancel := map[shipgate.JobState][]Step{W: {js("deploy-a", W, K, OnCancel)}, Q: {js("deploy-a", Q, K, OnCancel)}, R: {js("deploy-a", R, C, OnCancel)}}
	for _, state := range jobStates {
		t.Run("cancel/"+string(state), func(t *testing.T) {
			obs := typical(shipgate.StateRunning)
			obs.Jobs = []shipgate.JobRun{jobIn(state, 1, 1)}
			expect(t, obs, Cancel{Actor: "carol"}, planned(append([]Step{rs(shipgate.StateRunning, shipgate.StateCancelled, OnCancel)}, cancel[state]...)...))
		})
	}
}

func TestJobReports(t *testing.T) {
	exit1 := 1
	started := now.Add(-90 * time.Second)
	running := shipgate.JobRun{ID: 2, ReleaseID: subjectID, Run: 1, Name: "deploy-a", State: shipgate.JobRunning, Attempt: 1, MaxAttempts: 1, Runner: "agent-1", StartedAt: &started}
	obs := typical(shipgate.StateRunning)

	p := expect(t, obs, Claim{Job: shipgate.JobRun{ID: 3, Run: 1, Name: "deploy-b", State: shipgate.JobQueued, MaxAttempts: 1}, Runner: "agent-2", ClaimID: "c-9", LeaseUntil: now.Add(time.Minute)},
		planned(js("deploy-b", shipgate.JobQueued, shipgate.JobRunning, OnClaim)))
	hasDetails(t, p.Events[0], shipgate.SystemActor, map[string]any{"job": "deploy-b", "run": 1, "attempt": 1, "runner": "agent-2"})
	if j := p.Jobs[0]; j.Attempt != 1 || j.ClaimID != "c-9" || j.LeaseUntil == nil || j.StartedAt == nil {
		t.Fatalf("claimed: %+v", j)
	}
	// A job of an older run is not handed out.
	expect(t, obs, Claim{Job: shipgate.JobRun{ID: 3, Run: 0, Name: "deploy-b", State: shipgate.JobQueued}, Runner: "agent-2"}, nothing)

	probes := []map[string]any{{"ok": false}}
	p = expect(t, obs, Finish{Job: running, Runner: "agent-1", Outcome: shipgate.JobOutcome{ExitCode: &exit1, Reason: "exit 1"}, Probes: probes},
		planned(js("deploy-a", shipgate.JobRunning, shipgate.JobFailed, OnFinish)))
	hasDetails(t, p.Events[0], shipgate.SystemActor, map[string]any{"state": "failed", "exit_code": 1, "reason": "exit 1", "duration_ms": 90000, "probes": probes})
	if j := p.Jobs[0]; j.Cause != shipgate.JobCauseStepFailed || j.FinishedAt == nil {
		t.Fatalf("failed: %+v", j)
	}
	// A report that arrives after the job was failed as lost is refused.
	lost := running
	lost.State, lost.Cause = shipgate.JobFailed, shipgate.JobCauseLost
	expect(t, obs, Finish{Job: lost, Runner: "agent-1", Outcome: shipgate.JobOutcome{Succeeded: true}}, refusedWith(shipgate.ECONFLICT))
	// The cancelled attempt's end is recorded once.
	cancelled := running
	cancelled.State = shipgate.JobCancelled
	p = expect(t, obs, Finish{Job: cancelled, Runner: "agent-1", Outcome: shipgate.JobOutcome{Cancelled: true}},
		planned(js("deploy-a", shipgate.JobCancelled, shipgate.JobCancelled, OnFinish)))
	if *p.Jobs[0].ExitCode != -1 {
		t.Fatalf("cancelled: %+v", p.Jobs[0])
	}
	cancelled.ExitCode = p.Jobs[0].ExitCode
	expect(t, obs, Finish{Job: cancelled, Runner: "agent-1", Outcome: shipgate.JobOutcome{Cancelled: true}}, nothing)
	// Handed back: queued again with one more attempt allowed.
	p = expect(t, obs, Finish{Job: running, Runner: "agent-1", Outcome: shipgate.JobOutcome{NotStarted: true, Reason: "gone"}},
		planned(js("deploy-a", shipgate.JobRunning, shipgate.JobQueued, OnHandBack)))
	if j := p.Jobs[0]; j.MaxAttempts != 2 || j.Cause != shipgate.JobCauseNotStarted || j.LeaseUntil != nil {
		t.Fatalf("handed back: %+v", j)
	}
	p = expect(t, obs, Refuse{Job: shipgate.JobRun{ID: 3, Run: 1, Name: "deploy-b", State: shipgate.JobQueued}, Reason: "secret gone"},
		planned(js("deploy-b", shipgate.JobQueued, shipgate.JobFailed, OnRefuse)))
	hasDetails(t, p.Events[0], shipgate.SystemActor, map[string]any{"reason": "secret gone", "state": "failed"})
	if p.Jobs[0].Cause != shipgate.JobCauseRefused {
		t.Fatalf("refused: %+v", p.Jobs[0])
	}
}

func TestPromote(t *testing.T) {
	obs := typical(shipgate.StateRunning)
	p := expect(t, obs, Promote{Actor: "carol", Comment: "looks good"},
		planned(Step{Entity: EntityRollout, ID: 2, Name: "deploy-a", From: oPaused, To: oPaused, On: OnPromote}))
	hasDetails(t, p.Events[0], "carol", map[string]any{"job": "deploy-a", "pause": 1, "step": 2, "comment": "looks good"})
	if len(p.Promote) != 1 || p.Promote[0].PromotedThrough != 1 {
		t.Fatalf("promote: %+v", p.Promote)
	}
	// Promoting the same pause again, before the agent reported, is refused.
	obs.Rollouts[0].PromotedThrough = 1
	expect(t, obs, Promote{Actor: "carol"}, refusedWith(shipgate.ECONFLICT))
	// A rollout that is not paused cannot be promoted.
	obs.Rollouts[0].PromotedThrough, obs.Rollouts[0].Status.Phase = -1, shipgate.RolloutProgressing
	expect(t, obs, Promote{Actor: "carol"}, refusedWith(shipgate.ECONFLICT))
	obs.Rollouts = nil
	expect(t, obs, Promote{Actor: "carol"}, refusedWith(shipgate.ECONFLICT))
}

// Decide without a release, or with a command it does not know, is the
// caller's mistake.
func TestDecideRefusesNonsense(t *testing.T) {
	expect(t, Observed{}, Tick{}, refusedWith(shipgate.EINTERNAL))
	expect(t, typical(shipgate.StateRunning), unknownCommand{}, refusedWith(shipgate.EINTERNAL))
	// A manual rollback the caller found no target for is refused, with
	// the caller's reason or a sentence of the decider's.
	expect(t, typical(shipgate.StateSucceeded), ManualRollback{Actor: "carol"}, refusedWith(shipgate.EFAILEDPRECONDITION))
	expect(t, typical(shipgate.StateFailed), RollbackEnded{Succeeded: true}, refusedWith(shipgate.EINTERNAL))
}

type unknownCommand struct{}

func (unknownCommand) Trigger() Trigger { return "unknown" }

package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

var now = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // a Monday

func release(state shipgate.ReleaseState, env shipgate.Environment) *shipgate.Release {
	return &shipgate.Release{ID: 1, State: state, ReleaseContent: shipgate.ReleaseContent{
		Service: "web", Environment: env.Name, Policy: env,
		Pipeline: shipgate.Pipeline{Jobs: []shipgate.Job{
			{Name: "build", Steps: []shipgate.Step{{Run: "true"}}},
			{Name: "deploy-a", Needs: []string{"build"}, Steps: []shipgate.Step{{Run: "true"}}},
			{Name: "deploy-b", Needs: []string{"build"}, Steps: []shipgate.Step{{Run: "true"}}},
			{Name: "smoke", Needs: []string{"deploy-a", "deploy-b"}, Steps: []shipgate.Step{{Run: "true"}}},
		}},
	}}
}

func jobs(states ...shipgate.JobState) []shipgate.JobRun {
	names := []string{"build", "deploy-a", "deploy-b", "smoke"}
	out := make([]shipgate.JobRun, len(states))
	for i, s := range states {
		out[i] = shipgate.JobRun{ID: int64(i + 1), Name: names[i], State: s, Run: 1, MaxAttempts: 1}
	}
	return out
}

func actions(p Plan) string {
	var a []string
	for _, e := range p.Events {
		a = append(a, e.Action)
	}
	return strings.Join(a, ",")
}

func TestPlanPendingApproval(t *testing.T) {
	prod := shipgate.Environment{Name: "production", Approvals: shipgate.ApprovalPolicy{Required: 2, ExpiresAfter: shipgate.Duration(time.Hour)}}
	exp := now.Add(10 * time.Minute)
	past := now.Add(-time.Second)

	p := PlanRelease(Observed{Release: release(shipgate.StatePendingApproval, prod), Approvals: []shipgate.Approval{
		{ID: 1, Actor: "a", Decision: "approve", ExpiresAt: &exp},
	}}, now)
	if p.Release == nil || p.Release.State != shipgate.StatePendingApproval || !strings.Contains(p.Release.Reason, "1 of 2") || !p.Wake.Equal(exp) {
		t.Fatalf("one approval: %+v wake %v", p.Release, p.Wake)
	}

	p = PlanRelease(Observed{Release: release(shipgate.StatePendingApproval, prod), Approvals: []shipgate.Approval{
		{ID: 1, Actor: "a", Decision: "approve", ExpiresAt: &past},
		{ID: 2, Actor: "b", Decision: "approve", ExpiresAt: &exp},
	}}, now)
	if len(p.ExpireApprovals) != 1 || p.ExpireApprovals[0] != 1 || actions(p) != "approval.expired" {
		t.Fatalf("expiry not planned: %+v", p)
	}

	p = PlanRelease(Observed{Release: release(shipgate.StatePendingApproval, prod), Approvals: []shipgate.Approval{
		{ID: 1, Actor: "a", Decision: "approve", ExpiresAt: &exp},
		{ID: 2, Actor: "b", Decision: "approve", ExpiresAt: &exp},
	}}, now)
	if p.Release.State != shipgate.StateQueued || p.StartRun || actions(p) != "release.queued" {
		t.Fatalf("two approvals: %s %v %s", p.Release.State, p.StartRun, actions(p))
	}
	p = PlanRelease(Observed{Release: p.Release, Approvals: []shipgate.Approval{
		{ID: 1, Actor: "a", Decision: "approve", ExpiresAt: &exp},
		{ID: 2, Actor: "b", Decision: "approve", ExpiresAt: &exp},
	}}, now)
	if p.Release.State != shipgate.StateRunning || !p.StartRun || p.Release.Run != 1 || actions(p) != "release.started" {
		t.Fatalf("queued: %s %v %s", p.Release.State, p.StartRun, actions(p))
	}
}

func TestPlanQueuedWindow(t *testing.T) {
	env := shipgate.Environment{Name: "production", Windows: []shipgate.Window{{Days: []string{"tue"}, Start: "09:00", End: "10:00", Timezone: "Europe/Berlin"}}}
	p := PlanRelease(Observed{Release: release(shipgate.StateQueued, env)}, now)
	opens := time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC) // 09:00 Berlin (CET)
	if p.Release == nil || p.Release.State != shipgate.StateQueued || p.StartRun || !p.Wake.Equal(opens) || !p.Release.WaitUntil.Equal(opens) {
		t.Fatalf("closed window: %+v wake %v", p.Release, p.Wake)
	}
	if !strings.Contains(p.Release.Reason, "deploy window") || !strings.Contains(p.Release.Reason, "2026-03-03T09:00:00+01:00") {
		t.Fatalf("reason %q does not say why and until when", p.Release.Reason)
	}
	// Nothing changes on a second look: the plan is empty.
	r := *p.Release
	if again := PlanRelease(Observed{Release: &r}, now.Add(time.Minute)); !again.Empty() {
		t.Fatalf("second plan not empty: %+v", again)
	}
	p = PlanRelease(Observed{Release: release(shipgate.StateQueued, env)}, opens.Add(time.Minute))
	if p.Release.State != shipgate.StateRunning || !p.StartRun {
		t.Fatalf("open window: %+v", p.Release)
	}
}

func TestPlanRunning(t *testing.T) {
	env := shipgate.Environment{Name: "staging"}
	const (
		W = shipgate.JobWaiting
		Q = shipgate.JobQueued
		R = shipgate.JobRunning
		S = shipgate.JobSucceeded
		F = shipgate.JobFailed
		K = shipgate.JobSkipped
	)
	tests := []struct {
		name      string
		in        []shipgate.JobState
		want      []shipgate.JobState
		state     shipgate.ReleaseState
		reasonHas string
	}{
		{"first job queued", []shipgate.JobState{W, W, W, W}, []shipgate.JobState{Q, W, W, W}, shipgate.StateRunning, ""},
		{"fan out", []shipgate.JobState{S, W, W, W}, []shipgate.JobState{S, Q, Q, W}, shipgate.StateRunning, ""},
		{"fan in waits for both", []shipgate.JobState{S, S, R, W}, []shipgate.JobState{S, S, R, W}, shipgate.StateRunning, ""},
		{"failure skips what cannot run", []shipgate.JobState{F, W, W, W}, []shipgate.JobState{F, K, K, K}, shipgate.StateFailed, "job build failed"},
		{"failure lets running jobs finish", []shipgate.JobState{S, F, R, W}, []shipgate.JobState{S, F, R, K}, shipgate.StateRunning, ""},
		{"failure skips queued jobs", []shipgate.JobState{S, F, Q, W}, []shipgate.JobState{S, F, K, K}, shipgate.StateFailed, "job deploy-a failed"},
		{"all succeeded", []shipgate.JobState{S, S, S, S}, []shipgate.JobState{S, S, S, S}, shipgate.StateSucceeded, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := release(shipgate.StateRunning, env)
			r.Run = 1
			js := jobs(tt.in...)
			p := PlanRelease(Observed{Release: r, Jobs: js}, now)
			got := map[string]shipgate.JobState{}
			for _, j := range js {
				got[j.Name] = j.State
			}
			for _, j := range p.Jobs {
				got[j.Name] = j.State
				if j.State == shipgate.JobQueued && j.Reason != "waiting for a runner" {
					t.Errorf("queued job %s says %q", j.Name, j.Reason)
				}
			}
			for i, j := range js {
				if got[j.Name] != tt.want[i] {
					t.Errorf("job %s = %s, want %s", j.Name, got[j.Name], tt.want[i])
				}
			}
			state := r.State
			if p.Release != nil {
				state = p.Release.State
				if !strings.Contains(p.Release.Reason, tt.reasonHas) {
					t.Errorf("reason %q lacks %q", p.Release.Reason, tt.reasonHas)
				}
			}
			if state != tt.state {
				t.Errorf("release %s, want %s", state, tt.state)
			}
		})
	}
}

func TestPlanLeaseExpiry(t *testing.T) {
	r := release(shipgate.StateRunning, shipgate.Environment{Name: "staging"})
	r.Run = 1
	lease := now.Add(-time.Second)
	js := jobs(shipgate.JobRunning, shipgate.JobWaiting, shipgate.JobWaiting, shipgate.JobWaiting)
	js[0].LeaseUntil, js[0].Runner, js[0].Attempt, js[0].MaxAttempts = &lease, "agent-1", 1, 2
	p := PlanRelease(Observed{Release: r, Jobs: js}, now)
	if len(p.Jobs) != 1 || p.Jobs[0].State != shipgate.JobQueued || actions(p) != "job.retry" || !strings.Contains(p.Jobs[0].Reason, "lease expired on agent agent-1") || p.Jobs[0].Cause != shipgate.JobCauseLost {
		t.Fatalf("retry: %+v %s", p.Jobs, actions(p))
	}
	js[0].Attempt = 2
	p = PlanRelease(Observed{Release: r, Jobs: js}, now)
	if p.Release == nil || p.Release.State != shipgate.StateFailed || !strings.Contains(p.Release.Reason, "lease expired on agent agent-1") {
		t.Fatalf("no retries left: %+v", p.Release)
	}
	// The job failed as lost says so as a fact, not only in its sentence:
	// a late report of the attempt is refused on that (report.go).
	// The jobs after it never ran, and say so too.
	if len(p.Jobs) != 4 || p.Jobs[0].State != shipgate.JobFailed || p.Jobs[0].Cause != shipgate.JobCauseLost || p.Jobs[3].Cause != shipgate.JobCauseSkipped {
		t.Fatalf("lost job: %+v", p.Jobs)
	}
	future := now.Add(time.Minute)
	js[0].LeaseUntil = &future
	p = PlanRelease(Observed{Release: r, Jobs: js}, now)
	if !p.Empty() || !p.Wake.Equal(future) {
		t.Fatalf("live lease: %+v", p)
	}
}

func TestPlanQueuedJobSaysWhichRunner(t *testing.T) {
	r := release(shipgate.StateRunning, shipgate.Environment{Name: "staging"})
	r.Run = 1
	r.Pipeline.Jobs[0].RunsOn = map[string]string{"zone": "a", "role": "web"}
	p := PlanRelease(Observed{Release: r, Jobs: jobs(shipgate.JobWaiting, shipgate.JobWaiting, shipgate.JobWaiting, shipgate.JobWaiting)}, now)
	if len(p.Jobs) != 1 || p.Jobs[0].Reason != "waiting for a runner with labels role=web,zone=a" {
		t.Fatalf("queued job: %+v", p.Jobs)
	}
}

func TestPlanWaitsForReleaseAhead(t *testing.T) {
	r := release(shipgate.StateQueued, shipgate.Environment{Name: "production"})
	r.ID = 7
	ahead := &shipgate.Release{ID: 5, State: shipgate.StateRunning}
	p := PlanRelease(Observed{Release: r, Ahead: ahead}, now)
	if p.StartRun || p.Release == nil || p.Release.Reason != "waiting for release 5 (running) to finish in production" {
		t.Fatalf("plan: %+v", p.Release)
	}
	if p = PlanRelease(Observed{Release: r}, now); !p.StartRun {
		t.Fatal("did not start once nothing was ahead")
	}
}

func TestPlanApprovalsLapseWhileQueued(t *testing.T) {
	prod := shipgate.Environment{Name: "production", Approvals: shipgate.ApprovalPolicy{Required: 2, ExpiresAfter: shipgate.Duration(time.Hour)}}
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	r := release(shipgate.StateQueued, prod)
	approvals := []shipgate.Approval{
		{ID: 1, Actor: "a", Decision: "approve", ExpiresAt: at(-time.Minute)},
		{ID: 2, Actor: "b", Decision: "approve", ExpiresAt: at(time.Minute)},
	}
	// Queued behind another release while the first approval ran out.
	p := PlanRelease(Observed{Release: r, Approvals: approvals, Ahead: &shipgate.Release{ID: 9, State: shipgate.StateRunning}}, now)
	if p.Release == nil || p.Release.State != shipgate.StatePendingApproval || p.StartRun || actions(p) != "approval.expired,release.approvals_lapsed" {
		t.Fatalf("lapsed: %+v %s", p.Release, actions(p))
	}
	// Still valid: it waits, and looks again when the first one would lapse.
	approvals[0].ExpiresAt = at(30 * time.Second)
	p = PlanRelease(Observed{Release: r, Approvals: approvals, Ahead: &shipgate.Release{ID: 9, State: shipgate.StateRunning}}, now)
	if p.Release == nil || p.Release.State != shipgate.StateQueued || !p.Wake.Equal(*at(30 * time.Second)) {
		t.Fatalf("valid: %+v wake %v", p.Release, p.Wake)
	}
}

// A rollback release starts whatever the deploy windows say, unless its
// environment applies windows to rollbacks; either way the reason is on
// record.
func TestPlanRollbackWindows(t *testing.T) {
	window := []shipgate.Window{{Days: []string{"tue"}, Start: "09:00", End: "10:00", Timezone: "Europe/Berlin"}}
	opens := time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC) // 09:00 Berlin (CET)
	tests := []struct {
		name    string
		kind    string
		windows []shipgate.Window
		applies bool
		at      time.Time
		start   bool
		reason  string // in the waiting reason, or in release.started's details
	}{
		{"deploy, window closed", shipgate.ReleaseKindDeploy, window, false, now, false, "waiting for the deploy window of production"},
		{"deploy ignores the opt-in", shipgate.ReleaseKindDeploy, window, false, now, false, "waiting for the deploy window"},
		{"rollback, window closed", shipgate.ReleaseKindRollback, window, false, now, true, shipgate.RollbackOutsideWindow},
		{"rollback, window open", shipgate.ReleaseKindRollback, window, false, opens.Add(time.Minute), true, ""},
		{"rollback, no windows", shipgate.ReleaseKindRollback, nil, false, now, true, ""},
		{"rollback held, window closed", shipgate.ReleaseKindRollback, window, true, now, false, "held for the deploy window because production applies windows to rollbacks"},
		{"rollback held, window open", shipgate.ReleaseKindRollback, window, true, opens.Add(time.Minute), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := shipgate.Environment{Name: "production", Windows: tt.windows, WindowsApplyToRollbacks: tt.applies}
			r := release(shipgate.StateQueued, env)
			r.Kind = tt.kind
			p := PlanRelease(Observed{Release: r}, tt.at)
			if p.Release == nil {
				t.Fatal("no change planned")
			}
			if started := p.Release.State == shipgate.StateRunning && p.StartRun; started != tt.start {
				t.Fatalf("started %v, want %v: %s %q", started, tt.start, p.Release.State, p.Release.Reason)
			}
			if !tt.start {
				if !strings.Contains(p.Release.Reason, tt.reason) || p.Release.WaitUntil == nil || !p.Release.WaitUntil.Equal(opens) || !p.Wake.Equal(opens) {
					t.Fatalf("waiting: %q until %v wake %v", p.Release.Reason, p.Release.WaitUntil, p.Wake)
				}
				return
			}
			if actions(p) != shipgate.ActionReleaseStarted {
				t.Fatalf("events %s", actions(p))
			}
			details := p.Events[0].Details
			note, _ := details["window"].(string)
			if note != tt.reason {
				t.Fatalf("release.started window note %q, want %q (details %v)", note, tt.reason, details)
			}
			if tt.reason != "" && details["window_opens_at"] != "2026-03-03T08:00:00Z" {
				t.Fatalf("release.started does not say when the window opens: %v", details)
			}
		})
	}
}

// PlanRelease is the tick's plan for obs at now; a plan the table refuses
// fails the test.
func PlanRelease(obs Observed, now time.Time) Plan {
	p, err := Decide(obs, Tick{}, now)
	if err != nil {
		panic(err)
	}
	return p
}

// A pending rollback says it waits for its failed check to recover only
// when a check failed: a failed step has nothing to recover (newcomer
// review).
func TestPendingRollbackReasonNamesTheCheckOnlyForChecks(t *testing.T) {
	env := shipgate.Environment{Name: "production", Rollback: shipgate.RollbackPolicy{Enabled: true, CheckTarget: shipgate.CheckTargetPipeline, DelaySeconds: 60, Mode: shipgate.RollbackLastSuccessful}}
	for _, tc := range []struct {
		check bool
		want  string
	}{{true, "unless the check recovers, it is held, or someone rolls back now"}, {false, "unless it is held, or someone rolls back now"}} {
		r := &shipgate.Release{ID: 2, State: shipgate.StateRunning, Run: 1, ReleaseContent: shipgate.ReleaseContent{Service: "web", Environment: "production", Policy: env,
			Pipeline: shipgate.Pipeline{Jobs: []shipgate.Job{{Name: "verify", Steps: []shipgate.Step{{Run: "true"}}}}}}}
		if tc.check {
			r.Pipeline.Jobs[0] = shipgate.Job{Name: "verify", Check: &shipgate.Check{}}
		}
		obs := Observed{Release: r, Jobs: []shipgate.JobRun{{ID: 1, Name: "verify", State: shipgate.JobFailed, Run: 1, Attempt: 1, MaxAttempts: 1}},
			RollbackTarget: &shipgate.Release{ID: 1, ReleaseContent: shipgate.ReleaseContent{Version: "1.0"}}}
		p := PlanRelease(obs, now)
		if len(p.Rollbacks) != 1 || !strings.HasSuffix(p.Rollbacks[0].Reason, tc.want) {
			t.Fatalf("check %v: rollbacks %+v, want a reason ending %q", tc.check, p.Rollbacks, tc.want)
		}
	}
}

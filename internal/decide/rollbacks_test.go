package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// Every rollback path of the table, one command at a time.

// failedWith observes the failed subject with its rollback in state
// (None: it has none). A pending rollback fires at now+1m; a fired one
// made rollback release 11, still running.
func failedWith(state shipgate.RollbackState) Observed {
	obs := typical(shipgate.StateFailed)
	if state == None {
		return obs
	}
	fires := now.Add(time.Minute)
	rb := &shipgate.Rollback{ReleaseID: subjectID, State: state, TriggeredBy: shipgate.TriggeredByPolicy, TargetID: good.ID, TargetVersion: good.Version}
	switch state {
	case shipgate.RollbackPending:
		rb.FiresAt = &fires
	case shipgate.RollbackHeld:
		rb.HeldBy, rb.HoldReason = "dana", "looking into it"
	case shipgate.RollbackFired:
		rb.RollbackRelease = 11
		obs.RollbackRelease = rollbackRelease(shipgate.StateRunning)
	}
	obs.Rollback = rb
	return obs
}

// rollbackRelease is release 11, which restores good in place of the
// subject.
func rollbackRelease(state shipgate.ReleaseState) *shipgate.Release {
	r := release(state, policy())
	r.ID, r.Version, r.Kind, r.Run = 11, good.Version, shipgate.ReleaseKindRollback, 1
	r.RollbackOf, r.RestoresRelease, r.TriggeredBy = subjectID, good.ID, shipgate.TriggeredByPolicy
	r.Reason = "job deploy-a failed: exit 1"
	return r
}

func TestEveryRollbackCommandInEveryRollbackState(t *testing.T) {
	const (
		N, P, H, O = shipgate.RollbackState(None), shipgate.RollbackPending, shipgate.RollbackHeld, shipgate.RollbackCalledOff
		X, D, F, U = shipgate.RollbackFired, shipgate.RollbackDone, shipgate.RollbackFailed, shipgate.RollbackUnavailable
	)
	fp, notFound := refusedWith(shipgate.EFAILEDPRECONDITION), refusedWith(shipgate.ENOTFOUND)
	fire := bs(P, X, OnFire)
	rerun := rs(shipgate.StateFailed, shipgate.StateQueued, OnRerun)
	rolledBack := rs(shipgate.StateFailed, shipgate.StateRolledBack, OnRollbackEnded)
	tests := []struct {
		cmd  Command
		want map[shipgate.RollbackState]outcome
	}{
		{Tick{}, map[shipgate.RollbackState]outcome{N: nothing, P: nothing, H: nothing, O: nothing, X: nothing, D: nothing, F: nothing, U: nothing}},
		{Hold{Actor: "dana", Reason: "looking"}, map[shipgate.RollbackState]outcome{
			N: notFound, P: planned(bs(P, H, OnHold)), H: fp, O: fp, X: fp, D: fp, F: fp, U: fp}},
		{RollbackNow{Actor: "erin", Reason: "now"}, map[shipgate.RollbackState]outcome{
			N: notFound, P: planned(bs(P, P, OnRollbackNow), fire), H: planned(bs(H, P, OnRollbackNow), fire), O: fp, X: fp, D: fp, F: fp, U: fp}},
		{CallOff{Actor: "erin", Reason: "the errors were the load balancer"}, map[shipgate.RollbackState]outcome{
			N: notFound, P: planned(bs(P, O, OnCallOff)), H: planned(bs(H, O, OnCallOff)), O: fp, X: fp, D: fp, F: fp, U: fp}},
		{ManualRollback{Actor: "erin", Target: good}, map[shipgate.RollbackState]outcome{
			N: planned(bs(N, X, OnManualRollback)), P: fp, H: fp, X: fp,
			O: planned(bs(O, X, OnManualRollback)), D: planned(bs(D, X, OnManualRollback)), F: planned(bs(F, X, OnManualRollback)), U: planned(bs(U, X, OnManualRollback))}},
		{FireRefused{Unavailable: true, Reason: "artifact gone", Target: good}, map[shipgate.RollbackState]outcome{
			N: notFound, X: planned(bs(X, U, OnFireRefused)), H: fp, O: fp, P: fp, D: fp, F: fp, U: fp}},
		{FireRefused{Reason: "service gone"}, map[shipgate.RollbackState]outcome{
			N: notFound, X: planned(bs(X, F, OnFireRefused)), H: fp, O: fp, P: fp, D: fp, F: fp, U: fp}},
		{RollbackEnded{RollbackRelease: rollbackRelease(shipgate.StateSucceeded), Succeeded: true}, map[shipgate.RollbackState]outcome{
			N: planned(bs(N, D, OnRollbackEnded), rolledBack), X: planned(bs(X, D, OnRollbackEnded), rolledBack),
			F: planned(bs(F, D, OnRollbackEnded), rolledBack), // its failed rollback release was rerun
			P: nothing, H: nothing, O: nothing, D: nothing, U: nothing}},
		{RollbackEnded{RollbackRelease: rollbackRelease(shipgate.StateFailed)}, map[shipgate.RollbackState]outcome{
			N: planned(bs(N, F, OnRollbackEnded)), X: planned(bs(X, F, OnRollbackEnded)),
			F: planned(bs(F, F, OnRollbackEnded)), // its rerun failed again
			P: nothing, H: nothing, O: nothing, D: nothing, U: nothing}},
		{Recovered{Job: "smoke"}, map[shipgate.RollbackState]outcome{
			P: planned(bs(P, O, OnRecovered)), N: nothing, H: nothing, O: nothing, X: nothing, D: nothing, F: nothing, U: nothing}},
		{Rerun{Actor: "carol"}, map[shipgate.RollbackState]outcome{
			N: planned(rerun), P: fp, H: planned(bs(H, O, OnRerun), rerun), X: fp,
			O: planned(rerun), D: planned(rerun), F: planned(rerun), U: planned(rerun)}},
	}
	for _, tt := range tests {
		for _, state := range rollbackStates {
			want, ok := tt.want[state]
			if !ok {
				t.Fatalf("%T: no outcome for %q", tt.cmd, state)
			}
			name := string(state)
			if state == None {
				name = "none"
			}
			t.Run(string(tt.cmd.Trigger())+"/"+name, func(t *testing.T) { expect(t, failedWith(state), tt.cmd, want) })
		}
	}
}

// pending: the run fails and the policy finds a version to restore.
func TestRollbackPendingWhenTheRunFails(t *testing.T) {
	obs := typical(shipgate.StateRunning)
	obs.Jobs = jobs(shipgate.JobSucceeded, shipgate.JobSucceeded, shipgate.JobSucceeded, shipgate.JobFailed)
	obs.Jobs[3].Reason = "check failed"
	obs.RollbackTarget = good
	p := expect(t, obs, Tick{}, planned(rs(shipgate.StateRunning, shipgate.StateFailed, OnRunEnded), bs(None, shipgate.RollbackPending, OnRunEnded)))
	fires := now.Add(300 * time.Second)
	hasDetails(t, event(t, p, shipgate.ActionRollbackPending), shipgate.SystemActor, map[string]any{
		"target_release": good.ID, "target_version": "1.0.0", "delay_seconds": 300, "fires_at": fires.Format(time.RFC3339Nano)})
	hasDetails(t, event(t, p, shipgate.ActionReleaseFailed), shipgate.SystemActor, map[string]any{"failed_job": "smoke", "reason": "job smoke failed: check failed"})
	if rb := p.Rollbacks[0]; rb.State != shipgate.RollbackPending || !rb.FiresAt.Equal(fires) || rb.TriggeredBy != shipgate.TriggeredByPolicy || !p.Wake.Equal(fires) {
		t.Fatalf("rollback %+v wake %v", rb, p.Wake)
	}

	// Nothing to roll back to: unavailable, saying why.
	obs.RollbackTarget, obs.RollbackNone = nil, "no earlier release of web succeeded in production"
	p = expect(t, obs, Tick{}, planned(rs(shipgate.StateRunning, shipgate.StateFailed, OnRunEnded), bs(None, shipgate.RollbackUnavailable, OnRunEnded)))
	hasDetails(t, event(t, p, shipgate.ActionRollbackUnavailable), shipgate.SystemActor, map[string]any{"reason": obs.RollbackNone})

	// Without a rollback policy, or when check_target names another job,
	// the failure starts no rollback.
	obs.RollbackTarget = good
	obs.Release.Policy.Rollback.CheckTarget = "deploy-a"
	expect(t, obs, Tick{}, planned(rs(shipgate.StateRunning, shipgate.StateFailed, OnRunEnded)))
	obs.Release.Policy.Rollback = shipgate.RollbackPolicy{}
	expect(t, obs, Tick{}, planned(rs(shipgate.StateRunning, shipgate.StateFailed, OnRunEnded)))
}

// fired: the delay is over, or a person says now.
func TestRollbackFires(t *testing.T) {
	obs := failedWith(shipgate.RollbackPending)
	p, err := Decide(obs, Tick{}, now)
	if err != nil || !p.Empty() || !p.Wake.Equal(*obs.Rollback.FiresAt) {
		t.Fatalf("before its time: %v %+v", err, p)
	}
	p, err = Decide(obs, Tick{}, *obs.Rollback.FiresAt)
	if err != nil || CheckSteps(&p) != nil {
		t.Fatalf("at its time: %v %v", err, CheckSteps(&p))
	}
	if got := stepStrings(p); len(got) != 1 || got[0] != bs(shipgate.RollbackPending, shipgate.RollbackFired, OnFire).String() {
		t.Fatalf("steps %q", got)
	}
	hasDetails(t, event(t, p, shipgate.ActionRollbackFired), shipgate.SystemActor, map[string]any{
		"target_release": good.ID, "target_version": "1.0.0", "triggered_by": shipgate.TriggeredByPolicy})
	if f := p.Fire; f == nil || *f != (Fire{Of: subjectID, Target: good.ID, TriggeredBy: shipgate.TriggeredByPolicy, Actor: shipgate.SystemActor}) {
		t.Fatalf("fire: %+v", p.Fire)
	}

	// `rollback now` on a held rollback: the person is accountable.
	p = expect(t, failedWith(shipgate.RollbackHeld), RollbackNow{Actor: "erin", Reason: "customers see errors"},
		planned(bs(shipgate.RollbackHeld, shipgate.RollbackPending, OnRollbackNow), bs(shipgate.RollbackPending, shipgate.RollbackFired, OnFire)))
	hasDetails(t, event(t, p, shipgate.ActionRollbackNow), "erin", map[string]any{"target_version": "1.0.0", "reason": "customers see errors"})
	hasDetails(t, event(t, p, shipgate.ActionRollbackFired), "erin", map[string]any{"target_version": "1.0.0", "triggered_by": shipgate.TriggeredByUser,
		"requested_by": "erin", "reason": "customers see errors", "held_by": "dana", "hold_reason": "looking into it"})
	if f := p.Fire; f == nil || f.Actor != "erin" || f.Reason != "customers see errors" || f.TriggeredBy != shipgate.TriggeredByUser {
		t.Fatalf("fire: %+v", p.Fire)
	}
	if last := p.Rollbacks[len(p.Rollbacks)-1]; last.State != shipgate.RollbackFired || last.RequestedBy != "erin" {
		t.Fatalf("rollback: %+v", last)
	}
}

// held: a person stops it from firing on its own.
func TestRollbackHold(t *testing.T) {
	p := expect(t, failedWith(shipgate.RollbackPending), Hold{Actor: "dana", Reason: "looking into it"},
		planned(bs(shipgate.RollbackPending, shipgate.RollbackHeld, OnHold)))
	hasDetails(t, p.Events[0], "dana", map[string]any{"target_version": "1.0.0", "reason": "looking into it"})
	if rb := p.Rollbacks[0]; rb.FiresAt != nil || rb.HeldBy != "dana" || !strings.Contains(rb.Reason, "held by dana: looking into it") || !p.Wake.IsZero() {
		t.Fatalf("held: %+v", rb)
	}
}

// called_off by a person: the release stays failed, nothing fires, and
// the event names them, their reason, and that a person did it.
func TestRollbackCallOff(t *testing.T) {
	for _, from := range []shipgate.RollbackState{shipgate.RollbackPending, shipgate.RollbackHeld} {
		t.Run(string(from), func(t *testing.T) {
			p := expect(t, failedWith(from), CallOff{Actor: "erin", Reason: "the errors were the load balancer"},
				planned(bs(from, shipgate.RollbackCalledOff, OnCallOff)))
			if len(p.Events) != 1 || p.Events[0].Action != shipgate.ActionRollbackCalledOff {
				t.Fatalf("events %+v", p.Events)
			}
			hasDetails(t, p.Events[0], "erin", map[string]any{"reason": "the errors were the load balancer", "called_by": CalledByPerson,
				"from_state": string(from), "target_release": good.ID, "target_version": "1.0.0"})
			rb := p.Rollbacks[0]
			if rb.State != shipgate.RollbackCalledOff || rb.FiresAt != nil || rb.Reason != "called off by erin: the errors were the load balancer" {
				t.Fatalf("rollback %+v", rb)
			}
			if p.Release != nil || p.Fire != nil || !p.Wake.IsZero() {
				t.Fatalf("the release must stay failed with nothing fired: release %+v fire %+v wake %v", p.Release, p.Fire, p.Wake)
			}
			// Once called off, time passing fires nothing, and a second
			// call-off is refused.
			off := failedWith(shipgate.RollbackCalledOff)
			off.Rollback = &rb
			expect(t, off, Tick{}, nothing)
			if later, err := Decide(off, Tick{}, now.Add(time.Hour)); err != nil || !later.Empty() {
				t.Fatalf("an hour later: %v %+v", err, later)
			}
			_, err := Decide(off, CallOff{Actor: "dave", Reason: "again"}, now)
			if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(shipgate.ErrorMessage(err), "is called_off; only a pending or held rollback can be called off") {
				t.Fatalf("second call-off: %v", err)
			}
		})
	}
	// Without a reason, or with a bad one, it is refused as bad input.
	for _, reason := range []string{"", "   ", "two\nlines", strings.Repeat("x", shipgate.MaxCommentLen+1)} {
		_, err := Decide(failedWith(shipgate.RollbackPending), CallOff{Actor: "erin", Reason: reason}, now)
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(shipgate.ErrorMessage(err), "reason") {
			t.Errorf("reason %q: %v", reason, err)
		}
	}
	_, err := Decide(failedWith(None), CallOff{Actor: "erin", Reason: "x"}, now)
	if shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(shipgate.ErrorMessage(err), "has no rollback") {
		t.Errorf("no rollback: %v", err)
	}
}

// called_off: the check recovered, a newer deploy started, or the release
// is rerun instead.
func TestRollbackCalledOff(t *testing.T) {
	p := expect(t, failedWith(shipgate.RollbackPending), Recovered{Job: "smoke"}, planned(bs(shipgate.RollbackPending, shipgate.RollbackCalledOff, OnRecovered)))
	hasDetails(t, p.Events[0], shipgate.SystemActor, map[string]any{})
	if rb := p.Rollbacks[0]; rb.FiresAt != nil || !strings.Contains(rb.Reason, "health check smoke recovered") {
		t.Fatalf("recovered: %+v", rb)
	}
	// The check cannot recover before the run ended.
	running := failedWith(shipgate.RollbackPending)
	running.Release = subject(shipgate.StateRunning)
	expect(t, running, Recovered{Job: "smoke"}, nothing)

	// Superseded: a newer deploy starting calls off the open rollbacks of
	// older releases, not those of newer ones.
	newer := typical(shipgate.StateQueued)
	newer.Release.ID = 12
	newer.Superseded = []shipgate.Rollback{
		{ReleaseID: subjectID, State: shipgate.RollbackPending, TargetVersion: "1.0.0"},
		{ReleaseID: 9, State: shipgate.RollbackHeld, TargetVersion: "0.9.0"},
		{ReleaseID: 13, State: shipgate.RollbackPending},
	}
	steps := startSteps()
	steps[0].ID = 12
	steps = append(steps, bs(shipgate.RollbackPending, shipgate.RollbackCalledOff, OnSuperseded),
		Step{Entity: EntityRollback, ID: 9, From: string(shipgate.RollbackHeld), To: string(shipgate.RollbackCalledOff), On: OnSuperseded})
	p = expect(t, newer, Tick{}, planned(steps...))
	for _, e := range p.Events[1:] {
		hasDetails(t, e, shipgate.SystemActor, map[string]any{"superseded_by": 12})
		if !strings.Contains(e.Details["reason"].(string), "superseded: release 12 (version 2.0.0) started in production") {
			t.Errorf("reason: %v", e.Details)
		}
	}
	if p.Events[1].Release != subjectID || p.Events[2].Release != 9 {
		t.Errorf("called-off events are about releases %d and %d", p.Events[1].Release, p.Events[2].Release)
	}
	// A rollback release starting supersedes nothing: it is the rollback.
	newer.Release.Kind = shipgate.ReleaseKindRollback
	steps = startSteps()
	steps[0].ID = 12
	expect(t, newer, Tick{}, planned(steps...))
}

// unavailable and failed: the fire is refused.
func TestRollbackFireRefused(t *testing.T) {
	p := expect(t, failedWith(shipgate.RollbackFired), FireRefused{Unavailable: true, Reason: "artifact of release 7 is gone", Target: good},
		planned(bs(shipgate.RollbackFired, shipgate.RollbackUnavailable, OnFireRefused)))
	hasDetails(t, p.Events[0], shipgate.SystemActor, map[string]any{"reason": "artifact of release 7 is gone", "target_release": good.ID, "target_version": "1.0.0"})
	if rb := p.Rollbacks[0]; rb.FiresAt != nil || rb.Reason != "artifact of release 7 is gone" {
		t.Fatalf("unavailable: %+v", rb)
	}
	p = expect(t, failedWith(shipgate.RollbackFired), FireRefused{Reason: "service web is gone"},
		planned(bs(shipgate.RollbackFired, shipgate.RollbackFailed, OnFireRefused)))
	hasDetails(t, p.Events[0], shipgate.SystemActor, map[string]any{"reason": "the rollback could not fire: service web is gone"})
}

// done, and the release rolled_back; or failed, when the rollback release
// failed, was rejected or was cancelled.
func TestRollbackReleaseEnds(t *testing.T) {
	p := expect(t, failedWith(shipgate.RollbackFired), RollbackEnded{RollbackRelease: rollbackRelease(shipgate.StateSucceeded), Succeeded: true},
		planned(bs(shipgate.RollbackFired, shipgate.RollbackDone, OnRollbackEnded), rs(shipgate.StateFailed, shipgate.StateRolledBack, OnRollbackEnded)))
	hasDetails(t, p.Events[0], shipgate.SystemActor, map[string]any{"rollback_release": 11, "version": "1.0.0", "triggered_by": shipgate.TriggeredByPolicy})
	if p.Release.State != shipgate.StateRolledBack || p.Rollbacks[0].State != shipgate.RollbackDone || p.Release.Reason != "rolled back to version 1.0.0 by release 11" {
		t.Fatalf("done: %+v %+v", p.Release, p.Rollbacks)
	}
	// A manual rollback of a release that succeeded rolls it back too.
	ok := failedWith(shipgate.RollbackFired)
	ok.Release = subject(shipgate.StateSucceeded)
	expect(t, ok, RollbackEnded{RollbackRelease: rollbackRelease(shipgate.StateSucceeded), Succeeded: true},
		planned(bs(shipgate.RollbackFired, shipgate.RollbackDone, OnRollbackEnded), rs(shipgate.StateSucceeded, shipgate.StateRolledBack, OnRollbackEnded)))
	// The same report again changes nothing.
	again := failedWith(shipgate.RollbackDone)
	again.Release = subject(shipgate.StateRolledBack)
	expect(t, again, RollbackEnded{RollbackRelease: rollbackRelease(shipgate.StateSucceeded), Succeeded: true}, nothing)

	for _, end := range []shipgate.ReleaseState{shipgate.StateFailed, shipgate.StateRejected, shipgate.StateCancelled} {
		t.Run(string(end), func(t *testing.T) {
			rr := rollbackRelease(end)
			p := expect(t, failedWith(shipgate.RollbackFired), RollbackEnded{RollbackRelease: rr},
				planned(bs(shipgate.RollbackFired, shipgate.RollbackFailed, OnRollbackEnded)))
			hasDetails(t, p.Events[0], shipgate.SystemActor, map[string]any{"rollback_release": 11})
			if !strings.Contains(p.Events[0].Details["reason"].(string), "rollback release 11 "+string(end)) {
				t.Errorf("reason: %v", p.Events[0].Details)
			}
		})
	}
}

// The rollback release itself says when it ended, whichever way: the
// caller then decides RollbackEnded on the release it rolls back.
func TestRollbackReleaseReportsItsEnd(t *testing.T) {
	const (
		S, F = shipgate.JobSucceeded, shipgate.JobFailed
	)
	for _, tt := range []struct {
		name      string
		obs       Observed
		cmd       Command
		succeeded bool
	}{
		{"succeeded", Observed{Release: rollbackRelease(shipgate.StateRunning), Jobs: jobs(S, S, S, S)}, Tick{}, true},
		{"failed", Observed{Release: rollbackRelease(shipgate.StateRunning), Jobs: jobs(S, F, S, S), RollbackTarget: good}, Tick{}, false},
		{"cancelled", Observed{Release: rollbackRelease(shipgate.StateQueued)}, Cancel{Actor: "carol"}, false},
		{"rejected", Observed{Release: rollbackRelease(shipgate.StatePendingApproval)}, Decision{Approver: approver, Digest: rollbackRelease(shipgate.StatePendingApproval).Digest}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decide(tt.obs, tt.cmd, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckSteps(&p); err != nil {
				t.Fatal(err)
			}
			if p.EndRollback == nil || p.EndRollback.Succeeded != tt.succeeded {
				t.Fatalf("EndRollback %+v, want succeeded=%v", p.EndRollback, tt.succeeded)
			}
			// A rollback release's failure never starts another rollback.
			for _, s := range p.Steps {
				if s.Entity == EntityRollback {
					t.Errorf("rollback release planned %s", s)
				}
			}
		})
	}
}

// A manual rollback: from none and from every state a rollback ends in;
// refused while the environment is busy, or a rollback is open or fired.
func TestManualRollback(t *testing.T) {
	for _, from := range []shipgate.RollbackState{None, shipgate.RollbackCalledOff, shipgate.RollbackDone, shipgate.RollbackFailed, shipgate.RollbackUnavailable} {
		t.Run("from "+string(from), func(t *testing.T) {
			obs := failedWith(from)
			obs.Release = subject(shipgate.StateSucceeded)
			p := expect(t, obs, ManualRollback{Actor: "erin", Reason: "errors up", Target: good}, planned(bs(from, shipgate.RollbackFired, OnManualRollback)))
			hasDetails(t, p.Events[0], "erin", map[string]any{"target_release": good.ID, "target_version": "1.0.0", "triggered_by": shipgate.TriggeredByUser,
				"rollback_release": NewRollbackRelease, "requested_by": "erin", "reason": "errors up"})
			if f := p.Fire; f == nil || *f != (Fire{Of: subjectID, Target: good.ID, TriggeredBy: shipgate.TriggeredByUser, Actor: "erin", Reason: "errors up"}) {
				t.Fatalf("fire: %+v", p.Fire)
			}
			// The store binds the rollback release it created.
			p.Bind(subjectID, map[Pending]int64{NewRollbackRelease: 11})
			if p.Events[0].Details["rollback_release"] != int64(11) || p.Rollbacks[0].RollbackRelease != 11 {
				t.Fatalf("bound: %v %+v", p.Events[0].Details, p.Rollbacks[0])
			}
		})
	}
	busy := typical(shipgate.StateSucceeded)
	busy.Busy = &shipgate.Release{ID: 12, State: shipgate.StateQueued}
	expect(t, busy, ManualRollback{Actor: "erin", Target: good}, refusedWith(shipgate.EFAILEDPRECONDITION))
	for _, st := range []shipgate.RollbackState{shipgate.RollbackPending, shipgate.RollbackHeld, shipgate.RollbackFired} {
		obs := failedWith(st)
		expect(t, obs, ManualRollback{Actor: "erin", Target: good}, refusedWith(shipgate.EFAILEDPRECONDITION))
	}
}

// A failed release whose rollback ended (called off by its rerun, failed,
// or unavailable) can be rerun; when the rerun fails too, the policy
// starts its rollback again. The store keeps one rollback per release
// (PutRollback updates it), so the step must start from the rollback the
// release has, not from nothing, and the table must list that move.
func TestRollbackOfARerunThatFailsAgain(t *testing.T) {
	for _, prior := range []shipgate.RollbackState{shipgate.RollbackCalledOff, shipgate.RollbackFailed, shipgate.RollbackUnavailable} {
		t.Run(string(prior), func(t *testing.T) {
			obs := typical(shipgate.StateRunning)
			obs.Release.Run = 2
			obs.Jobs = jobs(shipgate.JobSucceeded, shipgate.JobSucceeded, shipgate.JobSucceeded, shipgate.JobFailed)
			for i := range obs.Jobs {
				obs.Jobs[i].Run = 2
			}
			obs.Rollback = &shipgate.Rollback{ReleaseID: subjectID, State: prior, TriggeredBy: shipgate.TriggeredByPolicy}
			obs.RollbackTarget = good
			expect(t, obs, Tick{}, planned(rs(shipgate.StateRunning, shipgate.StateFailed, OnRunEnded), bs(prior, shipgate.RollbackPending, OnRunEnded)))
			obs.RollbackTarget, obs.RollbackNone = nil, "nothing to restore"
			expect(t, obs, Tick{}, planned(rs(shipgate.StateRunning, shipgate.StateFailed, OnRunEnded), bs(prior, shipgate.RollbackUnavailable, OnRunEnded)))
		})
	}
}

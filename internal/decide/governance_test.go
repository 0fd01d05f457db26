package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

var coverageItem = []shipgate.ChecklistItem{{Name: "coverage", Automated: &shipgate.AutomatedCheck{Evidence: "coverage.line_percent >= 80"}}}

func checklistAt(items []shipgate.ChecklistItem, percent float64) []shipgate.ChecklistItemState {
	ev := shipgate.EvidenceInput([]shipgate.Evidence{{Type: "coverage", Summary: map[string]any{"line_percent": percent}}})
	return shipgate.EvaluateChecklist(items, ev, nil)
}

// An approve-gated item that does not hold refuses the approval with the
// item and why; a reject is never held back.
func TestApproveRefusedWhileChecklistUnmet(t *testing.T) {
	obs := typical(shipgate.StatePendingApproval)
	obs.Release.Policy.Checklist = coverageItem
	obs.Checklist = checklistAt(coverageItem, 75)
	approve := Decision{Approve: true, Approver: approver, Digest: "sha256:new"}
	_, err := Decide(obs, approve, now)
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "coverage (coverage.line_percent is 75, wanted >= 80)") {
		t.Fatalf("approve at 75%%: %v", err)
	}
	if _, err := Decide(obs, Decision{Approver: approver, Digest: "sha256:new"}, now); err != nil {
		t.Fatalf("reject with an unmet checklist: %v", err)
	}
	obs.Checklist = checklistAt(coverageItem, 85)
	if _, err := Decide(obs, approve, now); err != nil {
		t.Fatalf("approve at 85%%: %v", err)
	}
}

func queuedSubject() Observed {
	obs := typical(shipgate.StateQueued)
	return obs
}

func TestQueuedReleaseHeldByGovernance(t *testing.T) {
	to := now.Add(2 * time.Hour)
	freeze := shipgate.Freeze{ID: 3, Environment: "production", From: now.Add(-time.Hour), To: to, Reason: "black friday"}
	startItem := []shipgate.ChecklistItem{{Name: "sign-off", Gate: shipgate.GateStart, Manual: &shipgate.ManualCheck{Owner: "qa"}}}
	for name, tt := range map[string]struct {
		prep   func(*Observed)
		starts bool
		reason string
		wait   *time.Time
	}{
		"nothing holds it": {prep: func(*Observed) {}, starts: true},
		"frozen": {prep: func(o *Observed) { o.Freezes = []shipgate.Freeze{freeze} },
			reason: "frozen until 2026-03-02T14:00:00Z, black friday (freeze 3", wait: &to},
		"freeze of another service": {prep: func(o *Observed) {
			f := freeze
			f.Service = "billing"
			o.Freezes = []shipgate.Freeze{f}
		}, starts: true},
		"freeze not begun": {prep: func(o *Observed) {
			f := freeze
			f.From = now.Add(time.Minute)
			o.Freezes = []shipgate.Freeze{f}
		}, starts: true},
		"freeze ended early": {prep: func(o *Observed) {
			f := freeze
			e := now.Add(-time.Minute)
			f.EndedAt = &e
			o.Freezes = []shipgate.Freeze{f}
		}, starts: true},
		"override requested, not approved": {prep: func(o *Observed) {
			o.Freezes = []shipgate.Freeze{freeze}
			o.FreezeOverride = &shipgate.FreezeOverride{ReleaseID: subjectID, RequestedBy: "carol", Reason: "outage"}
		}, reason: "frozen until", wait: &to},
		"override approved": {prep: func(o *Observed) {
			o.Freezes = []shipgate.Freeze{freeze}
			at := now.Add(-time.Minute)
			o.FreezeOverride = &shipgate.FreezeOverride{ReleaseID: subjectID, RequestedBy: "carol", Reason: "outage", ApprovedBy: "ic", ApprovedAt: &at}
		}, starts: true},
		"rollback release is exempt": {prep: func(o *Observed) {
			o.Release.Kind = shipgate.ReleaseKindRollback
			o.Freezes = []shipgate.Freeze{freeze}
		}, starts: true},
		"start gate unmet": {prep: func(o *Observed) {
			o.Release.Policy.Checklist = startItem
			o.Checklist = shipgate.EvaluateChecklist(startItem, map[string]any{}, nil)
		}, reason: "waiting for its checklist: sign-off (not ticked yet"},
		"start gate ticked": {prep: func(o *Observed) {
			o.Release.Policy.Checklist = startItem
			o.Checklist = shipgate.EvaluateChecklist(startItem, map[string]any{}, []shipgate.ChecklistTick{{Item: "sign-off", Actor: "quinn", Link: "https://x/1", At: now}})
		}, starts: true},
	} {
		t.Run(name, func(t *testing.T) {
			obs := queuedSubject()
			tt.prep(&obs)
			p, err := Decide(obs, Tick{}, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckSteps(&p); err != nil {
				t.Fatal(err)
			}
			if tt.starts {
				if p.Release == nil || p.Release.State != shipgate.StateRunning {
					t.Fatalf("did not start: %+v", p.Release)
				}
				return
			}
			if p.Release == nil || p.Release.State != shipgate.StateQueued || !strings.Contains(p.Release.Reason, tt.reason) || len(p.Events) != 0 {
				t.Fatalf("held: %+v, events %s; want reason %q", p.Release, actions(p), tt.reason)
			}
			if !sameTime(p.Release.WaitUntil, tt.wait) || tt.wait != nil && (p.Wake.IsZero() || p.Wake.After(*tt.wait)) {
				t.Fatalf("wait until %v, wake %v; want %v (a wake no later)", p.Release.WaitUntil, p.Wake, tt.wait)
			}
		})
	}
}

// With no approval required, approve-gated items gate the start: nobody
// approves the release, so there is no other moment to hold it.
func TestNoApprovalRequiredApproveGateHoldsStart(t *testing.T) {
	obs := queuedSubject()
	obs.Release.Policy.Approvals.Required = 0
	obs.Release.Policy.Checklist = coverageItem
	obs.Checklist = checklistAt(coverageItem, 75)
	p, err := Decide(obs, Tick{}, now)
	if err != nil || p.Release == nil || p.Release.State != shipgate.StateQueued || !strings.Contains(p.Release.Reason, "coverage") {
		t.Fatalf("%v %+v", err, p.Release)
	}
}

package decide

import (
	"testing"

	"github.com/shipgate/shipgate"
)

// A queued release a policy gate holds at start waits in queued with the
// gate's reason, and nothing else happens; said twice, nothing changes.
func TestPlanQueuedHeldByPolicy(t *testing.T) {
	staging := shipgate.Environment{Name: "staging"}
	r := release(shipgate.StateQueued, staging)
	hold := "held in queued by policy (decision 3, re-evaluated as things change): freeze: no deploys on Friday"
	p := PlanRelease(Observed{Release: r, PolicyHold: hold}, now)
	if p.Release == nil || p.Release.State != shipgate.StateQueued || p.Release.Reason != hold || len(p.Steps) != 0 || len(p.Events) != 0 || p.StartRun {
		t.Fatalf("held: %+v steps %v events %s", p.Release, p.Steps, actions(p))
	}
	r.Reason = hold
	if p := PlanRelease(Observed{Release: r, PolicyHold: hold}, now); !p.Empty() {
		t.Fatalf("held again: %+v", p)
	}
	// Without the hold it starts.
	if p := PlanRelease(Observed{Release: r}, now); p.Release == nil || p.Release.State != shipgate.StateRunning {
		t.Fatalf("released: %+v", p.Release)
	}
}

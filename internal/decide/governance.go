package decide

import (
	"strings"

	"github.com/shipgate/shipgate"
)

// heldByGovernance keeps a queued release waiting while its start-gated
// checklist items do not hold, or a freeze covers its environment without
// a granted override; started collects what the release.started event
// says about them. A rollback release is exempt from both: it restores a
// version known to be good, and waiting leaves the broken one serving.
func (p *planner) heldByGovernance(started map[string]any) bool {
	if p.r.Kind == shipgate.ReleaseKindRollback {
		return false
	}
	unmet := shipgate.UnmetItems(p.obs.Checklist, shipgate.GateStart)
	if p.r.Policy.Approvals.Required == 0 {
		// Nobody approves it, so approve-gated items gate its start.
		unmet = append(unmet, shipgate.UnmetItems(p.obs.Checklist, shipgate.GateApprove)...)
	}
	if len(unmet) > 0 {
		p.setWaiting("waiting for its checklist: "+strings.Join(unmet, "; "), nil)
		return true
	}
	f := shipgate.ActiveFreeze(p.obs.Freezes, p.r.Service, p.r.Environment, p.now)
	if f == nil {
		return false
	}
	if o := p.obs.FreezeOverride; o.Granted() {
		started["freeze_override"] = map[string]any{"freeze": f.ID, "requested_by": o.RequestedBy, "approved_by": o.ApprovedBy, "reason": o.Reason}
		return false
	}
	until := f.To
	p.setWaiting(shipgate.FrozenReason(f), &until)
	p.wakeAt(until)
	return true
}

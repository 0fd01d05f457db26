package decide

import (
	"time"

	"github.com/shipgate/shipgate"
)

// A release whose environment sets renotify_after or escalate_after has its
// waits for a person (approval, a rollout paused for promote) tracked as
// attentions: the planner opens one when the wait begins, re-notifies and
// escalates on its wake times, and closes it when the wait is over. The
// rows are read and written in the reconcile transaction, so a restarted
// server continues the timers and two servers never both send one.

// attention plans the timers of the release's waits for a person, after
// the rest of the plan decided the release's state.
func (p *planner) attention() {
	pol := p.r.Policy.Notify
	if !pol.Timed() && len(p.obs.Attentions) == 0 {
		return
	}
	approvalKey, acted := "", time.Time{}
	if p.r.State == shipgate.StatePendingApproval {
		approvalKey = "approval"
		for _, a := range p.obs.Approvals {
			if a.Decision == shipgate.DecisionApprove && a.WithdrawnAt == nil && a.ExpiredAt == nil && a.CreatedAt.After(acted) {
				acted = a.CreatedAt
			}
		}
	}
	promoteKey := ""
	if p.r.State == shipgate.StateRunning {
		promoteKey = p.obs.PausedFor
	}
	p.attend(shipgate.AttentionApproval, approvalKey, acted)
	p.attend(shipgate.AttentionPromote, promoteKey, time.Time{})
}

// attend moves one reason's wait along: key is the wait that is on now
// ("" for none).
func (p *planner) attend(reason, key string, acted time.Time) {
	var open *shipgate.Attention
	for i := range p.obs.Attentions {
		if p.obs.Attentions[i].Reason == reason {
			a := p.obs.Attentions[i]
			open = &a
		}
	}
	if open != nil && key != open.Key {
		p.closeAttention(open, key)
		open = nil
	}
	if key == "" || !p.r.Policy.Notify.Timed() {
		return
	}
	fresh := open == nil
	if fresh {
		open = &shipgate.Attention{ReleaseID: p.r.ID, Reason: reason, Key: key, OpenedAt: p.now}
	}
	pol := p.r.Policy.Notify
	action, _ := open.Due(pol, acted, p.now)
	now := p.now
	switch action {
	case shipgate.ActionAttentionReminded:
		open.Reminders++
		open.LastNoticeAt = &now
		p.event(action, map[string]any{"reason": reason, "wait": key, "reminder": open.Reminders, "of": pol.Reminders(),
			"waiting_since": open.OpenedAt.Format(time.RFC3339Nano)})
	case shipgate.ActionAttentionEscalated:
		open.EscalatedAt = &now
		p.event(action, map[string]any{"reason": reason, "wait": key, "escalate_to": pol.EscalateTo,
			"waiting_since": open.OpenedAt.Format(time.RFC3339Nano)})
	}
	if fresh || action != "" {
		p.plan.Attentions = append(p.plan.Attentions, AttentionChange{Attention: *open, Fresh: fresh})
	}
	if _, next := open.Due(pol, acted, p.now); !next.IsZero() {
		p.wakeAt(next)
	}
}

// closeAttention ends a wait that is over; one that was re-notified or
// escalated is resolved with an event, which resolves the escalation's
// incident.
func (p *planner) closeAttention(a *shipgate.Attention, next string) {
	now := p.now
	a.ClosedAt = &now
	p.plan.Attentions = append(p.plan.Attentions, AttentionChange{Attention: *a})
	if a.Reminders == 0 && a.EscalatedAt == nil {
		return
	}
	how := "release " + string(p.r.State)
	switch {
	case next != "":
		how = "a new wait began"
	case a.Reason == shipgate.AttentionPromote && p.r.State == shipgate.StateRunning:
		how = "the rollout moved on"
	}
	p.event(shipgate.ActionAttentionResolved, map[string]any{"reason": a.Reason, "wait": a.Key, "escalated": a.EscalatedAt != nil,
		"reminders": a.Reminders, "state": how, "waiting_since": a.OpenedAt.Format(time.RFC3339Nano)})
}

package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Notifications that a person is needed, or that what a person was needed
// for ended: approval needed (with the required groups, the tally, the
// command and a link), an approval expired, a rollout paused for promote,
// a rollout aborted, a release rejected or cancelled, and the
// re-notifications and escalations of the waits (see attention.go in the
// root package).

// Filter names a sink's events list may use besides audit actions:
// approval.needed is release.created or release.approvals_lapsed of a
// release that needs approvals. Re-notifications are filtered as the
// notification they repeat.
const FilterApprovalNeeded = "approval.needed"

// personActions are the audit actions classifyPerson looks at.
var personActions = []string{
	shipgate.ActionReleaseCreated, shipgate.ActionApprovalsLapsed, shipgate.ActionApprovalExpired,
	shipgate.ActionRolloutPaused, shipgate.ActionRolloutAborted, shipgate.ActionReleaseRejected, shipgate.ActionReleaseCancelled,
	shipgate.ActionAttentionReminded, shipgate.ActionAttentionEscalated, shipgate.ActionAttentionResolved,
	shipgate.ActionFreezeOverrideRequested, shipgate.ActionFreezeOverrideApproved,
}

// notifies reports whether an audit action may notify anyone.
func notifies(action string) bool {
	return slices.Contains(Actions, action) || slices.Contains(personActions, action)
}

// customType is the CDEvents type of a shipgate event that has no
// standard one (v0.4.1 has no approvals, pauses or escalations):
// dev.cdeventsx.shipgate-<subject>.<predicate>.0.1.0.
func customType(subject, predicate string) string {
	return "dev.cdeventsx.shipgate-" + subject + "." + predicate + ".0.1.0"
}

// AttentionDedupKey is the PagerDuty dedup key of the escalation of a
// release's wait for a person: one incident per release and reason.
func AttentionDedupKey(releaseID int64, reason string) string {
	return DedupKey(releaseID) + "/" + reason
}

// subjectOf names a wait's reason as a CDEvents subject.
func subjectOf(reason string) string {
	if reason == shipgate.AttentionPromote {
		return "rollout"
	}
	return "approval"
}

// classifyPerson is classify for the person-needed notifications.
func classifyPerson(e shipgate.AuditEvent, r *shipgate.Release) (Event, bool) {
	ev := Event{Audit: e, Release: r, DedupRelease: r.ID, Filter: e.Action}
	reason := detail(e, "reason")
	switch e.Action {
	case shipgate.ActionReleaseCreated, shipgate.ActionApprovalsLapsed:
		if r.State != shipgate.StatePendingApproval || r.Policy.Approvals.Required == 0 || r.ApprovalSkipped != "" {
			return ev, false
		}
		ev.Filter, ev.Type, ev.need = FilterApprovalNeeded, customType("approval", "needed"), shipgate.AttentionApproval
	case shipgate.ActionApprovalExpired:
		ev.Type, ev.need = customType("approval", "expired"), shipgate.AttentionApproval
	case shipgate.ActionRolloutPaused:
		ev.Type, ev.need = customType("rollout", "paused"), shipgate.AttentionPromote
	case shipgate.ActionRolloutAborted:
		ev.Type = customType("rollout", "aborted")
	case shipgate.ActionReleaseRejected:
		ev.Type = customType("release", "rejected")
	case shipgate.ActionReleaseCancelled:
		ev.Type = customType("release", "cancelled")
	case shipgate.ActionFreezeOverrideRequested:
		// An emergency exception to a freeze: the override group is asked,
		// and everyone hears when it is granted.
		ev.Type = customType("release", "overriderequested")
	case shipgate.ActionFreezeOverrideApproved:
		ev.Type = customType("release", "overrideapproved")
	case shipgate.ActionAttentionReminded:
		ev.Type, ev.need = customType(subjectOf(reason), "renotified"), reason
		ev.Filter = FilterApprovalNeeded
		if reason == shipgate.AttentionPromote {
			ev.Filter = shipgate.ActionRolloutPaused
		}
	case shipgate.ActionAttentionEscalated:
		ev.Type, ev.need, ev.Escalation = customType(subjectOf(reason), "escalated"), reason, true
		ev.PagerDuty, ev.Severity, ev.Dedup = "trigger", "error", AttentionDedupKey(r.ID, reason)
	case shipgate.ActionAttentionResolved:
		// The wait is over: whoever was reminded hears it (as the
		// reminders were routed), and an escalation's sinks get their
		// incident resolved. A wait nobody was told about again closes
		// quietly.
		reminded := detail(e, "reminders") != "" && detail(e, "reminders") != "0"
		escalated := detail(e, "escalated") == "true"
		if !reminded && !escalated {
			return ev, false
		}
		ev.Type, ev.closes = customType(subjectOf(reason), "resolved"), waitClosed{reminded: reminded, escalated: escalated}
		ev.Filter = FilterApprovalNeeded
		if reason == shipgate.AttentionPromote {
			ev.Filter = shipgate.ActionRolloutPaused
		}
		if escalated {
			ev.PagerDuty, ev.Severity, ev.Dedup = "resolve", "info", AttentionDedupKey(r.ID, reason)
		}
	default:
		return ev, false
	}
	// A valid subject already (describe adds the tally, command and link).
	ev.Subject = map[string]any{"id": fmt.Sprintf("release/%d/%s", r.ID, subjectKind(ev)), "type": "shipgate-" + subjectKind(ev),
		"content": map[string]any{"release": r.ID, "service": r.Service, "environment": r.Environment, "version": r.Version}}
	return ev, true
}

// waitClosed says who heard of a wait that attention.resolved closes: the
// sinks its reminders went to, the sinks it was escalated to.
type waitClosed struct{ reminded, escalated bool }

// subjectKind is the CDEvents subject an event is about: approval,
// rollout or release.
func subjectKind(ev Event) string {
	switch {
	case ev.Audit.Action == shipgate.ActionReleaseRejected || ev.Audit.Action == shipgate.ActionReleaseCancelled,
		strings.HasPrefix(ev.Audit.Action, "freeze."):
		return "release"
	case ev.need == shipgate.AttentionPromote || strings.HasPrefix(ev.Audit.Action, "rollout."),
		ev.Escalation && detail(ev.Audit, "reason") == shipgate.AttentionPromote:
		return "rollout"
	}
	return "approval"
}

// describe writes the summary and CDEvents subject of a person-needed
// notification: who is needed for what, the tally so far, the command to
// run and, with a public URL, a link.
func (q *Enqueuer) describe(ctx context.Context, tx *sqlstore.Tx, ev *Event) error {
	r, e := ev.Release, ev.Audit
	what := fmt.Sprintf("release %d of %s %s to %s", r.ID, r.Service, r.Version, r.Environment)
	content := map[string]any{"release": r.ID, "service": r.Service, "environment": r.Environment, "version": r.Version}
	var need string
	switch ev.need {
	case shipgate.AttentionApproval:
		approvals, err := tx.ListApprovals(ctx, r.ID)
		if err != nil {
			return err
		}
		pol := r.Policy.Approvals
		t := shipgate.TallyApprovals(pol, approvals, tx.Now())
		need = ApprovalNeed(pol, t)
		content["required"], content["fromGroups"], content["approvers"] = pol.Required, nonNil(pol.FromGroups), nonNil(t.Approvers)
		content["command"] = fmt.Sprintf("shipgate approve %d", r.ID)
		need += fmt.Sprintf("; run `shipgate approve %d`", r.ID)
	case shipgate.AttentionPromote:
		content["command"] = fmt.Sprintf("shipgate promote %d", r.ID)
		need = fmt.Sprintf("run `shipgate promote %d` to continue or `shipgate cancel %d` to stop", r.ID, r.ID)
	}
	if link := q.link(r.ID); link != "" {
		content["url"] = ReleaseURL(q.PublicURL, r.ID)
		content["page"] = link
		if need != "" {
			need += " " + link
		}
	}
	reason := detail(e, "reason")
	switch e.Action {
	case shipgate.ActionReleaseCreated, shipgate.ActionApprovalsLapsed:
		ev.Summary = what + " needs approval: " + need
		if e.Action == shipgate.ActionApprovalsLapsed {
			ev.Summary = what + " needs approval again (its approvals lapsed before it started): " + need
		}
	case shipgate.ActionApprovalExpired:
		ev.Summary = fmt.Sprintf("%s's approval of %s expired after %s", detail(e, "approver"), what, detail(e, "expires_after"))
		if r.State == shipgate.StatePendingApproval {
			ev.Summary += ": " + need
		}
	case shipgate.ActionRolloutPaused:
		ev.Summary = fmt.Sprintf("the rollout of %s is paused at step %s of job %s, waiting for a person: %s", what, stepOf(e), detail(e, "job"), need)
		if reason != "" {
			ev.Summary += " (" + reason + ")"
		}
		content["job"], content["step"] = detail(e, "job"), detail(e, "step")
	case shipgate.ActionRolloutAborted:
		ev.Summary = fmt.Sprintf("the rollout of %s was aborted at step %s (canary weight %s%%), traffic is back on the stable version: %s", what, stepOf(e), detail(e, "weight"), reason)
		content["job"], content["step"], content["reason"] = detail(e, "job"), detail(e, "step"), reason
	case shipgate.ActionReleaseRejected:
		ev.Summary = what + " was " + r.Reason
		content["rejectedBy"] = e.Actor
	case shipgate.ActionReleaseCancelled:
		ev.Summary = what + " was cancelled by " + e.Actor
		if reason != "" {
			ev.Summary += ": " + reason
		}
		content["cancelledBy"], content["reason"] = e.Actor, reason
	case shipgate.ActionFreezeOverrideRequested:
		ev.Summary = fmt.Sprintf("%s asks for an emergency override of the freeze holding %s: %s; a member of the override group other than them runs `shipgate freeze approve-override %d`", e.Actor, what, reason, r.ID)
		content["requestedBy"], content["reason"] = e.Actor, reason
		content["command"] = fmt.Sprintf("shipgate freeze approve-override %d", r.ID)
	case shipgate.ActionFreezeOverrideApproved:
		ev.Summary = fmt.Sprintf("%s approved the emergency override of the freeze for %s (asked by %s: %s); it starts through the freeze", e.Actor, what, detail(e, "requested_by"), reason)
		content["approvedBy"], content["requestedBy"], content["reason"] = e.Actor, detail(e, "requested_by"), reason
	case shipgate.ActionAttentionReminded:
		ev.Summary = fmt.Sprintf("reminder %s of %s: %s still %s: %s", detail(e, "reminder"), detail(e, "of"), what, waitingFor(reason), need)
	case shipgate.ActionAttentionEscalated:
		ev.Summary = fmt.Sprintf("escalated: %s is still %s and nobody acted: %s", what, waitingFor(reason), need)
	case shipgate.ActionAttentionResolved:
		ev.Summary = fmt.Sprintf("%s no longer %s (%s)", what, waitingFor(reason), detail(e, "state"))
	}
	subject := subjectKind(*ev)
	ev.Subject = map[string]any{"id": fmt.Sprintf("release/%d/%s", r.ID, subject), "source": q.Source, "type": "shipgate-" + subject, "content": content}
	return nil
}

// ApprovalNeed says what a release still needs, e.g. "needs 2 of
// release-managers (0 so far)".
func ApprovalNeed(p shipgate.ApprovalPolicy, t shipgate.ApprovalTally) string {
	from := "approvers"
	if len(p.FromGroups) > 0 {
		from = strings.Join(p.FromGroups, " or ")
	}
	so := fmt.Sprintf("%d so far", len(t.Approvers))
	if len(t.Approvers) > 0 {
		so += ": " + strings.Join(t.Approvers, ", ")
	}
	return fmt.Sprintf("needs %d of %s (%s)", p.Required, from, so)
}

// stepOf names the step of a rollout event as `release show` does: "2 of
// 3", counted from 1 as recorded (step_base 1); events recorded without
// the number of steps name the step alone.
func stepOf(e shipgate.AuditEvent) string {
	step := detail(e, "step")
	if steps := detail(e, "steps"); steps != "" && steps != "0" {
		step += " of " + steps
	}
	return step
}

func waitingFor(reason string) string {
	if reason == shipgate.AttentionPromote {
		return "waiting for a person to promote its rollout"
	}
	return "waiting for approval"
}

// link is where a person sees release id (its page in the web UI), when
// the server knows its public URL.
func (q *Enqueuer) link(id int64) string {
	if q.PublicURL == "" {
		return ""
	}
	return ReleasePageURL(q.PublicURL, id)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// routes decides whether sink s hears of ev. An environment that names
// sinks hears only through them; escalations go to the environment's
// escalate_to sinks only, whatever their events lists say (naming a sink
// there is asking for it). Otherwise a sink hears of every notification its
// events list allows (all of them without a list).
func routes(s config.Sink, ev Event) bool {
	pol := ev.Release.Policy.Notify
	escalationSink := pol != nil && slices.Contains(pol.EscalateTo, s.Name)
	if ev.Escalation {
		return escalationSink
	}
	if ev.closes.escalated && escalationSink {
		return true // its incident is resolved
	}
	if ev.closes != (waitClosed{}) && !ev.closes.reminded {
		return false // only the escalation was sent on: only it closes
	}
	if pol != nil && len(pol.Sinks) > 0 && !slices.Contains(pol.Sinks, s.Name) {
		return false
	}
	filter := ev.Filter
	if filter == "" {
		filter = ev.Audit.Action
	}
	return len(s.Events) == 0 || slices.Contains(s.Events, filter)
}

// incident keeps a PagerDuty sink's incidents straight: a trigger is
// recorded, and a resolve is sent only to a sink that was sent the
// trigger and has not had it resolved (a rollback of a release whose
// failure paged nobody resolves nothing).
func incident(ctx context.Context, tx *sqlstore.Tx, s config.Sink, ev Event) (bool, error) {
	if s.Type != config.SinkPagerDuty {
		return true, nil
	}
	switch ev.PagerDuty {
	case "trigger":
		return true, tx.OpenIncident(ctx, s.Name, ev.dedupKey())
	case "resolve":
		return tx.ResolveIncident(ctx, s.Name, ev.dedupKey())
	}
	return true, nil
}

func (ev Event) dedupKey() string {
	if ev.Dedup != "" {
		return ev.Dedup
	}
	return DedupKey(ev.DedupRelease)
}

package notify

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// CDEvents spec version the events follow.
const cdeventsVersion = "0.4.1"

// Event is what one audit event announces.
type Event struct {
	Audit   shipgate.AuditEvent
	Release *shipgate.Release
	// Type is the CDEvents type, e.g. dev.cdevents.service.deployed.0.2.0.
	Type    string
	Summary string
	// PagerDuty says how the event moves an incident: "trigger",
	// "resolve" or "" (not at all), about release DedupRelease.
	PagerDuty    string
	Severity     string
	DedupRelease int64
	Outcome      string
	// Dedup, when set, is the PagerDuty dedup key instead of
	// DedupKey(DedupRelease) (an escalation's, see AttentionDedupKey).
	Dedup string
	// Filter is the name a sink's events list selects the event by: the
	// audit action, or approval.needed (see person.go).
	Filter string
	// Escalation events go to the environment's escalate_to sinks only.
	Escalation bool
	// closes is set on attention.resolved: which sinks heard of the wait.
	closes waitClosed
	// Subject, when set, is the CDEvent subject (custom events of
	// person.go); need says which wait for a person the event is about.
	Subject map[string]any
	need    string
	// Flips are the flags the release's rollback mitigations flipped, on
	// the events of its failure (mitigation.go).
	Flips []shipgate.FlagFlip
}

// DedupKey is the PagerDuty dedup key of a release's incident: the trigger
// when it fails and the resolve when its rollback succeeds carry the same.
func DedupKey(releaseID int64) string { return "shipgate/release/" + strconv.FormatInt(releaseID, 10) }

func detail(e shipgate.AuditEvent, key string) string {
	var m map[string]any
	if json.Unmarshal(e.Details, &m) != nil {
		return ""
	}
	if v, ok := m[key]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// Actions lists the audit actions that notify; a sink's events filter
// names some of them.
var Actions = []string{
	shipgate.ActionReleaseStarted, shipgate.ActionReleaseSucceeded, shipgate.ActionReleaseFailed,
	shipgate.ActionRollbackPending, shipgate.ActionRollbackUnavailable, shipgate.ActionRollbackCalledOff,
	shipgate.ActionRollbackHeld, shipgate.ActionRollbackFired, shipgate.ActionRollbackFailed,
	FilterApprovalNeeded, shipgate.ActionApprovalExpired, shipgate.ActionRolloutPaused, shipgate.ActionRolloutAborted,
	shipgate.ActionReleaseRejected, shipgate.ActionReleaseCancelled,
	shipgate.ActionFreezeOverrideRequested, shipgate.ActionFreezeOverrideApproved,
	shipgate.ActionAuditCheckpoint,
	shipgate.ActionFlagKilled, shipgate.ActionFlagChangeRequested,
}

// classify decides whether an audit event notifies and how. r is the
// release the event is about.
func classify(e shipgate.AuditEvent, r *shipgate.Release) (Event, bool) {
	ev := Event{Audit: e, Release: r, DedupRelease: r.ID}
	what := fmt.Sprintf("release %d of %s %s to %s", r.ID, r.Service, r.Version, r.Environment)
	switch e.Action {
	case shipgate.ActionReleaseStarted:
		ev.Type, ev.Summary = "dev.cdevents.pipelinerun.started.0.2.0", what+" started"
	case shipgate.ActionReleaseSucceeded:
		if r.Kind == shipgate.ReleaseKindRollback {
			ev.Type = "dev.cdevents.service.rolledback.0.2.0"
			ev.Summary = fmt.Sprintf("%s rolled back to %s in %s by release %d (replacing release %d)", r.Service, r.Version, r.Environment, r.ID, r.RollbackOf)
			ev.PagerDuty, ev.DedupRelease, ev.Severity = "resolve", r.RollbackOf, "info"
		} else {
			ev.Type, ev.Summary = "dev.cdevents.service.deployed.0.2.0", fmt.Sprintf("%s %s deployed to %s (release %d)", r.Service, r.Version, r.Environment, r.ID)
			if r.Run > 1 {
				// A rerun succeeded: the incident its failed run opened is over.
				ev.PagerDuty, ev.Severity = "resolve", "info"
			}
		}
		ev.Outcome = "success"
	case shipgate.ActionReleaseFailed:
		ev.Type, ev.Outcome = "dev.cdevents.pipelinerun.finished.0.2.0", "failure"
		ev.Summary = what + " failed: " + detail(e, "reason")
		if r.Kind == shipgate.ReleaseKindRollback {
			// rollback.failed on the release it rolls back raises that
			// release's incident; no second one.
			ev.Summary = fmt.Sprintf("rollback release %d of %s %s to %s failed: %s", r.ID, r.Service, r.Version, r.Environment, detail(e, "reason"))
		} else {
			ev.PagerDuty, ev.Severity = "trigger", "error"
		}
	case shipgate.ActionRollbackPending:
		ev.Type = "dev.cdeventsx.shipgate-rollback.pending.0.1.0"
		ev.Summary = fmt.Sprintf("rollback of %s to version %s pending: fires at %s", what, detail(e, "target_version"), detail(e, "fires_at"))
	case shipgate.ActionRollbackUnavailable:
		ev.Type = "dev.cdeventsx.shipgate-rollback.unavailable.0.1.0"
		ev.Summary = what + " failed and was not rolled back: " + detail(e, "reason")
		ev.PagerDuty, ev.Severity = "trigger", "critical"
	case shipgate.ActionRollbackCalledOff:
		ev.Type = "dev.cdeventsx.shipgate-rollback.calledoff.0.1.0"
		ev.Summary = "rollback of " + what + " called off: " + detail(e, "reason")
		if detail(e, "called_by") == "person" {
			// `shipgate rollback call-off`: name the person, as hold does.
			ev.Summary = "rollback of " + what + " called off by " + withWhy(e.Actor, detail(e, "reason"))
		}
		if e.Actor == shipgate.SystemActor && detail(e, "superseded_by") == "" {
			// The check recovered on its own: the incident is over. (Called
			// off by a person or by a newer release, it is not yet.)
			ev.PagerDuty, ev.Severity = "resolve", "info"
		}
	case shipgate.ActionRollbackHeld:
		ev.Type, ev.Summary = "dev.cdeventsx.shipgate-rollback.held.0.1.0", "rollback of "+what+" held by "+withWhy(e.Actor, detail(e, "reason"))
	case shipgate.ActionRollbackFired:
		ev.Type = "dev.cdeventsx.shipgate-rollback.fired.0.1.0"
		by := "triggered by " + detail(e, "triggered_by")
		if who := detail(e, "requested_by"); who != "" {
			// A person fired it (rollback now, or a manual rollback): name
			// them and what they said.
			by = "fired by " + withWhy(who, detail(e, "reason"))
		}
		ev.Summary = fmt.Sprintf("rolling %s back to version %s (%s)", what, detail(e, "target_version"), by)
	case shipgate.ActionRollbackFailed:
		ev.Type = "dev.cdeventsx.shipgate-rollback.failed.0.1.0"
		ev.Summary = "rollback of " + what + " failed: " + detail(e, "reason")
		ev.PagerDuty, ev.Severity = "trigger", "critical"
	default:
		return classifyPerson(e, r)
	}
	return ev, true
}

// withWhy is "who: why", or who alone when no reason was given.
func withWhy(who, why string) string {
	if why == "" {
		return who
	}
	return who + ": " + why
}

// CloudEvent renders the event as a CloudEvent (structured JSON mode)
// carrying a CDEvent that validates against the CDEvents v0.4.1 schemas
// (a test holds every type classify emits to them). Following the
// CloudEvents binding of CDEvents, the envelope's id, source, type, time and
// subject are the CDEvent's context.id, source, type, timestamp and
// subject.id. source is a URI reference naming this server; publicURL, if
// set, is the absolute URL the server is reached at, and makes the links
// in the event absolute.
func (ev Event) CloudEvent(source, publicURL string) ([]byte, error) {
	r := ev.Release
	at := ev.Audit.At.UTC().Format(time.RFC3339Nano)
	id := "shipgate-" + strconv.FormatInt(ev.Audit.Seq, 10)
	subject := ev.subject(source, publicURL)
	if ev.Subject != nil {
		// Events that describe their own subject (person-needed ones carry
		// the tally, the command and the link in its content).
		subject = maps.Clone(ev.Subject)
		if subject["source"] == nil {
			subject["source"] = source
		}
	}
	var details any
	if err := json.Unmarshal(ev.Audit.Details, &details); err != nil && len(ev.Audit.Details) > 0 {
		return nil, fmt.Errorf("details of audit event %d: %w", ev.Audit.Seq, err)
	}
	custom := map[string]any{
		"release": r.ID, "service": r.Service, "environment": r.Environment, "version": r.Version, "kind": r.Kind,
		"rollbackOf": r.RollbackOf, "summary": ev.Summary, "action": ev.Audit.Action, "actor": ev.Audit.Actor,
		"auditSeq": ev.Audit.Seq, "details": details, "url": ReleaseURL(publicURL, r.ID), "page": ReleasePageURL(publicURL, r.ID),
	}
	maps.Copy(custom, deploymentData(r)) // what DORA tools read (fourkeys.go)
	if len(ev.Flips) > 0 {
		custom["flags"] = ev.Flips
	}
	cdevent := map[string]any{
		"context": map[string]any{"version": cdeventsVersion, "id": id, "source": source, "type": ev.Type, "timestamp": at},
		"subject": subject, "customData": custom, "customDataContentType": "application/json",
	}
	return json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": source, "type": ev.Type, "time": at,
		"subject": subject["id"], "datacontenttype": "application/json", "data": cdevent,
	})
}

// subject is the CDEvent subject of the event, shaped as the schema of its
// type asks:
//   - pipelinerun.*: the release's run, "release/<id>/run/<run>", with the
//     release's URL (required by pipelinerun.started);
//   - service.*: the service in its environment, "<service>/<environment>",
//     with the environment and the artifact as a purl;
//   - custom dev.cdeventsx.shipgate-<thing>.* types: subject type
//     "shipgate-<thing>" (the custom-event rule: the type's own
//     <tool>-<subject>), id "release/<id>/<thing>".
func (ev Event) subject(source, publicURL string) map[string]any {
	r := ev.Release
	env := map[string]any{"id": r.Environment, "source": source}
	switch {
	case strings.HasPrefix(ev.Type, "dev.cdevents.pipelinerun."):
		content := map[string]any{"pipelineName": r.Service + "/" + r.Environment, "url": ReleaseURL(publicURL, r.ID)}
		if ev.Outcome != "" {
			content["outcome"] = ev.Outcome
		}
		if reason := detail(ev.Audit, "reason"); ev.Outcome == "failure" && reason != "" {
			content["errors"] = reason
		}
		return map[string]any{"id": fmt.Sprintf("release/%d/run/%d", r.ID, r.Run), "source": source, "type": "pipelineRun", "content": content}
	case strings.HasPrefix(ev.Type, "dev.cdeventsx."):
		kind, _, _ := strings.Cut(strings.TrimPrefix(ev.Type, "dev.cdeventsx."), ".")
		thing := strings.TrimPrefix(kind, "shipgate-")
		return map[string]any{"id": fmt.Sprintf("release/%d/%s", r.ID, thing), "source": source, "type": kind,
			"content": map[string]any{"release": r.ID, "service": r.Service, "environment": env, "version": r.Version,
				"artifactId": purl(r), "url": ReleaseURL(publicURL, r.ID)}}
	}
	return map[string]any{"id": r.Service + "/" + r.Environment, "source": source, "type": "service",
		"content": map[string]any{"environment": env, "artifactId": purl(r)}}
}

// ReleaseURL is where a program reads a release: the API's release under
// the server's public URL, or, without one, that path alone (a URI
// reference relative to the server). Machine-read fields (CDEvents' url)
// carry it.
func ReleaseURL(publicURL string, id int64) string {
	return strings.TrimSuffix(publicURL, "/") + "/api/v1/releases/" + strconv.FormatInt(id, 10)
}

// ReleasePageURL is where a person sees a release: the web UI's release
// page under the server's public URL (or that path alone without one).
// What people read and click (Slack text, PagerDuty links, the webhook
// event's page link) carries it.
func ReleasePageURL(publicURL string, id int64) string {
	return strings.TrimSuffix(publicURL, "/") + "/releases/" + strconv.FormatInt(id, 10)
}

// purl names a release's artifact as a package URL (what CDEvents'
// artifactId holds): pkg:generic/<service>@<version>?checksum=sha256:<hex>.
// Service names need no escaping; a version may hold '+', which purl
// escapes.
func purl(r *shipgate.Release) string {
	p := "pkg:generic/" + url.PathEscape(r.Service) + "@" + strings.ReplaceAll(url.PathEscape(r.Version), "+", "%2B")
	if r.Artifact.SHA256 != "" {
		p += "?checksum=sha256:" + r.Artifact.SHA256
	}
	return p
}

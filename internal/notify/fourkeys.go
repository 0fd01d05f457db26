package notify

import (
	"time"

	"github.com/shipgate/shipgate"
)

// deploymentData is what DORA tools (Four Keys-style pipelines) read of a
// release besides the CDEvent's standard fields: the artifact by digest,
// the change it ships (commit, ref, commit time: lead time starts there),
// the team that owns it, and when it was created and finished. It goes
// into every event's customData (docs/metrics.md "Deployment events for
// other tools").
func deploymentData(r *shipgate.Release) map[string]any {
	out := map[string]any{
		"artifact":  map[string]any{"id": purl(r), "sha256": r.Artifact.SHA256},
		"createdAt": r.CreatedAt.UTC().Format(time.RFC3339Nano),
		"run":       r.Run,
	}
	change := map[string]any{}
	if r.Source.Commit != "" {
		change["commit"] = r.Source.Commit
	}
	if r.Source.Ref != "" {
		change["ref"] = r.Source.Ref
	}
	if r.Source.CommittedAt != nil {
		change["committedAt"] = r.Source.CommittedAt.UTC().Format(time.RFC3339Nano)
	}
	if len(change) > 0 {
		out["change"] = change
	}
	if r.Owner != "" {
		out["owner"] = r.Owner
	}
	if r.RestoresRelease != 0 {
		out["restoresRelease"] = r.RestoresRelease
	}
	if r.TriggeredBy != "" {
		out["triggeredBy"] = r.TriggeredBy
	}
	if r.SucceededAt != nil {
		out["succeededAt"] = r.SucceededAt.UTC().Format(time.RFC3339Nano)
	}
	if r.FinishedAt != nil {
		out["finishedAt"] = r.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	return out
}

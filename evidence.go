package shipgate

import "time"

// Evidence audit actions.
const (
	// ActionEvidenceAdded records an item attached to a release: its type,
	// name, digest and summary.
	ActionEvidenceAdded = "evidence.added"
)

// Evidence is a file or link attached to a release (an SBOM, a signature,
// coverage, a scan, test results, a link): content-addressed, immutable
// once attached. Summary is what its type's parser understood (component
// count, line percent, counts by severity, …); policies and checklists read
// it through EvidenceInput.
//
// Job and Attempt name the pipeline step that attached it through its
// agent; AddedBy is then "agent/NAME". A link's URL and title are its
// Summary; its stored bytes are that summary as JSON.
type Evidence struct {
	ID        int64          `json:"id"`
	ReleaseID int64          `json:"release_id"`
	Type      string         `json:"type"`
	Name      string         `json:"name"`
	SHA256    string         `json:"sha256"`
	Size      int64          `json:"size"`
	Summary   map[string]any `json:"summary,omitempty"`
	Job       string         `json:"job,omitempty"`
	Attempt   int            `json:"attempt,omitempty"`
	AddedBy   string         `json:"added_by"`
	AddedAt   time.Time      `json:"added_at"`
}

// EvidenceInput is a release's evidence as policies and checklist items see
// it: input.evidence.<type> is the newest item of that type's Summary
// (input.evidence.coverage.line_percent, input.evidence.scan.high, …), and
// input.evidence.items lists every item. Always a non-nil map.
func EvidenceInput(ev []Evidence) map[string]any {
	out := map[string]any{}
	items := []any{}
	for _, e := range ev {
		items = append(items, map[string]any{"id": e.ID, "type": e.Type, "name": e.Name, "sha256": e.SHA256, "size": e.Size, "summary": e.Summary})
		if e.Summary != nil {
			out[e.Type] = e.Summary
		}
	}
	out["items"] = items
	return out
}

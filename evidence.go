package shipgate

import (
	"path/filepath"
	"strings"
	"time"
)

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

// EvidenceTypes are the types of evidence: each but file and link is
// parsed into a Summary (internal/evidence), link is a URL with a title,
// file anything else.
var EvidenceTypes = []string{"sbom", "signature", "coverage", "scan", "tests", "link", "file"}

// StepEvidence is a file a pipeline step produces as evidence: Path,
// relative to the job's working directory and inside it, is attached as
// Type (never link) under Name (default: the path's base name) when the
// step ends. A step that succeeded but did not produce it fails its job;
// one that failed attaches it if it is there (a JUnit report of the
// failing tests is evidence too).
type StepEvidence struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Name string `json:"name,omitempty"`
}

// ValidateStepEvidence checks a step's evidence declaration.
func ValidateStepEvidence(e StepEvidence) error {
	known := false
	for _, t := range EvidenceTypes {
		known = known || t == e.Type
	}
	switch {
	case !known:
		return Errorf(EINVALID, "unknown evidence type %q: use one of %s", e.Type, strings.Join(EvidenceTypes, ", "))
	case e.Type == "link":
		return Errorf(EINVALID, "a step attaches files; add links with shipgate evidence add")
	case e.Path == "":
		return Errorf(EINVALID, "evidence needs a path: the file the step writes, relative to the job's directory")
	case !filepath.IsLocal(e.Path):
		return Errorf(EINVALID, "evidence path %q must be relative and stay inside the job's directory", e.Path)
	case len(e.Name) > 200:
		return Errorf(EINVALID, "evidence name is %d bytes; at most 200", len(e.Name))
	}
	return nil
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

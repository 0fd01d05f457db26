package shipgate

import (
	"fmt"
	"slices"
	"sort"
)

// ReleaseChange is one difference between the release running in an
// environment and one that would replace it: what an approver must see
// before approving. Old and New are the values as text; a secret input's
// values are never shown, only that it was added, removed or changed.
type ReleaseChange struct {
	// Field names what changed: "version", "artifact.sha256",
	// "artifact.location", "source.commit", "source.ref",
	// "service_revision", "input.NAME", "secret_input.NAME", "pipeline",
	// "policy", "kind".
	Field string `json:"field"`
	// Change is "added", "removed" or "changed".
	Change string `json:"change"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	// Secret says the values are withheld (a secret input).
	Secret bool `json:"secret,omitempty"`
}

// Kinds of change.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// PipelineDigest is the digest of a release's frozen pipeline, so two
// releases' pipelines compare by one value.
func (c *ReleaseContent) PipelineDigest() string { return digestOf(c.Pipeline) }

// PolicyDigest is the digest of a release's frozen environment policy
// (approvals, windows, rollback and the rest of the environment).
func (c *ReleaseContent) PolicyDigest() string { return digestOf(c.Policy) }

func digestOf(v any) string {
	b, err := CanonicalJSON(v)
	if err != nil {
		panic(fmt.Sprintf("shipgate: release content not encodable: %v", err)) // plain data only
	}
	return "sha256:" + SHA256Hex(b)
}

// CompareReleases lists what next changes against cur, the release that
// runs in the environment now, in a fixed order: version, artifact,
// source, kind, service revision, inputs by name, secret inputs by name,
// pipeline, policy. An empty list means next deploys the same thing again.
func CompareReleases(cur, next *Release) []ReleaseChange {
	out := []ReleaseChange{}
	field := func(name, old, new string) {
		switch {
		case old == new:
		case old == "":
			out = append(out, ReleaseChange{Field: name, Change: ChangeAdded, New: new})
		case new == "":
			out = append(out, ReleaseChange{Field: name, Change: ChangeRemoved, Old: old})
		default:
			out = append(out, ReleaseChange{Field: name, Change: ChangeChanged, Old: old, New: new})
		}
	}
	field("version", cur.Version, next.Version)
	field("artifact.sha256", cur.Artifact.SHA256, next.Artifact.SHA256)
	field("artifact.location", cur.Artifact.Location, next.Artifact.Location)
	field("source.commit", cur.Source.Commit, next.Source.Commit)
	field("source.ref", cur.Source.Ref, next.Source.Ref)
	field("kind", cur.Kind, next.Kind)
	if cur.Service != next.Service || cur.ServiceRevision != next.ServiceRevision {
		field("service_revision", fmt.Sprint(cur.ServiceRevision), fmt.Sprint(next.ServiceRevision))
	}
	for _, name := range unionKeys(cur.Inputs, next.Inputs) {
		o, inOld := cur.Inputs[name]
		n, inNew := next.Inputs[name]
		switch {
		case !inOld:
			out = append(out, ReleaseChange{Field: "input." + name, Change: ChangeAdded, New: n})
		case !inNew:
			out = append(out, ReleaseChange{Field: "input." + name, Change: ChangeRemoved, Old: o})
		case o != n:
			out = append(out, ReleaseChange{Field: "input." + name, Change: ChangeChanged, Old: o, New: n})
		}
	}
	for _, name := range unionKeys(cur.SecretInputs, next.SecretInputs) {
		o, inOld := cur.SecretInputs[name]
		n, inNew := next.SecretInputs[name]
		c := ReleaseChange{Field: "secret_input." + name, Secret: true}
		switch {
		case !inOld:
			c.Change = ChangeAdded
		case !inNew:
			c.Change = ChangeRemoved
		case o != n:
			c.Change = ChangeChanged
		default:
			continue
		}
		out = append(out, c)
	}
	field("pipeline", cur.PipelineDigest(), next.PipelineDigest())
	field("policy", cur.PolicyDigest(), next.PolicyDigest())
	return out
}

func unionKeys(a, b map[string]string) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

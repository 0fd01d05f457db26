package shipgate

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Audit actions of the artifact store.
const (
	// ActionArtifactsCollected records a `shipgate artifact gc` that
	// removed stored artifacts no release can still need.
	ActionArtifactsCollected = "artifacts.collected"
)

// ArtifactRef is a release that pins an artifact, with what decides
// whether it can still need the artifact's bytes.
type ArtifactRef struct {
	ReleaseID int64        `json:"release"`
	SHA256    string       `json:"-"`
	State     ReleaseState `json:"state"`
	// Succeeded stays true after a later rollback of the release.
	Succeeded bool `json:"succeeded,omitempty"`
}

// NeedsBytes reports whether the release can still need its artifact: one
// that is not final may yet run, and one that succeeded may be restored by
// a rollback at any time (by any mode, "version" included). A release that
// ended without succeeding (failed, rejected, cancelled) needs nothing; a
// failed one rerun after gc runs only if the server can import its path
// again with the same digest.
func (r ArtifactRef) NeedsBytes() bool { return !r.State.Final() || r.Succeeded }

// StoredArtifact is one artifact in a server's store, the releases that
// pin it, and whether gc keeps it and why.
type StoredArtifact struct {
	SHA256   string        `json:"sha256"`
	Size     int64         `json:"size"`
	StoredAt time.Time     `json:"stored_at"`
	Releases []ArtifactRef `json:"releases"`
	Keep     bool          `json:"keep"`
	Why      string        `json:"why"`
}

// DefaultArtifactGrace is how recent a stored artifact gc always keeps: a
// release being created stores its artifact before the release exists,
// and a download may take the creation up to its timeout.
const DefaultArtifactGrace = time.Hour

// PlanArtifactGC decides which stored artifacts gc keeps: every one a
// release can still need (see ArtifactRef.NeedsBytes), and every one
// stored within grace of now; the rest (pinned only by releases that ended
// without succeeding, or by none) may go. It returns stored with Releases,
// Keep and Why filled in, in the same order.
func PlanArtifactGC(stored []StoredArtifact, refs []ArtifactRef, now time.Time, grace time.Duration) []StoredArtifact {
	by := map[string][]ArtifactRef{}
	for _, r := range refs {
		by[r.SHA256] = append(by[r.SHA256], r)
	}
	out := make([]StoredArtifact, len(stored))
	for i, a := range stored {
		rs := by[a.SHA256]
		sort.Slice(rs, func(i, j int) bool { return rs[i].ReleaseID > rs[j].ReleaseID })
		a.Releases = append([]ArtifactRef{}, rs...)
		a.Keep, a.Why = keepArtifact(a, now, grace)
		out[i] = a
	}
	return out
}

func keepArtifact(a StoredArtifact, now time.Time, grace time.Duration) (bool, string) {
	for _, r := range a.Releases { // newest first
		switch {
		case !r.NeedsBytes():
		case !r.State.Final():
			return true, fmt.Sprintf("release %d is %s", r.ReleaseID, r.State)
		default:
			return true, fmt.Sprintf("release %d succeeded; a rollback may restore it", r.ReleaseID)
		}
	}
	if age := now.Sub(a.StoredAt); age < grace {
		return true, fmt.Sprintf("stored %s ago, within the %s grace period", age.Round(time.Second), grace)
	}
	if len(a.Releases) == 0 {
		return false, "no release pins it"
	}
	ended := make([]string, len(a.Releases))
	for i, r := range a.Releases {
		ended[i] = fmt.Sprintf("%d %s", r.ReleaseID, r.State)
	}
	return false, "only releases that ended without succeeding pin it (" + strings.Join(ended, ", ") + ")"
}

package shipgate

import (
	"strings"
	"testing"
	"time"
)

func TestPlanArtifactGC(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	old := now.Add(-48 * time.Hour)
	tests := []struct {
		name     string
		refs     []ArtifactRef
		storedAt time.Time
		keep     bool
		why      string
	}{
		{"orphan", nil, old, false, "no release pins it"},
		{"orphan within grace", nil, now.Add(-time.Minute), true, "within the 1h0m0s grace period"},
		{"pending", []ArtifactRef{{ReleaseID: 1, State: StatePendingApproval}}, old, true, "release 1 is pending_approval"},
		{"queued", []ArtifactRef{{ReleaseID: 1, State: StateQueued}}, old, true, "release 1 is queued"},
		{"running", []ArtifactRef{{ReleaseID: 1, State: StateRunning}}, old, true, "release 1 is running"},
		{"succeeded", []ArtifactRef{{ReleaseID: 1, State: StateSucceeded, Succeeded: true}}, old, true, "release 1 succeeded"},
		{"succeeded, then rolled back", []ArtifactRef{{ReleaseID: 1, State: StateRolledBack, Succeeded: true}}, old, true, "release 1 succeeded"},
		{"failed", []ArtifactRef{{ReleaseID: 1, State: StateFailed}}, old, false, "(1 failed)"},
		{"failed, rolled back", []ArtifactRef{{ReleaseID: 1, State: StateRolledBack}}, old, false, "(1 rolled_back)"},
		{"rejected and cancelled", []ArtifactRef{{ReleaseID: 1, State: StateRejected}, {ReleaseID: 2, State: StateCancelled}}, old, false, "(2 cancelled, 1 rejected)"},
		{"failed, then succeeded again", []ArtifactRef{{ReleaseID: 1, State: StateSucceeded, Succeeded: true}, {ReleaseID: 2, State: StateFailed}}, old, true, "release 1 succeeded"},
		{"failed, just stored again", []ArtifactRef{{ReleaseID: 1, State: StateFailed}}, now, true, "grace period"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.refs {
				tt.refs[i].SHA256 = "a"
			}
			refs := append(tt.refs, ArtifactRef{ReleaseID: 9, SHA256: "b", State: StateRunning})
			got := PlanArtifactGC([]StoredArtifact{{SHA256: "a", StoredAt: tt.storedAt}}, refs, now, DefaultArtifactGrace)
			if len(got) != 1 || got[0].Keep != tt.keep || !strings.Contains(got[0].Why, tt.why) || len(got[0].Releases) != len(tt.refs) {
				t.Fatalf("plan = %+v; want keep=%v why ~ %q", got, tt.keep, tt.why)
			}
		})
	}
}

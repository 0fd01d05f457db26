package shipgate

import "testing"

// MitigationTriggered follows the rollback policy's rule for which
// failures count, whether or not the redeploy is enabled; a release
// without mitigations, or a rollback release, never mitigates.
func TestMitigationTriggered(t *testing.T) {
	ms := []FlagMitigation{{Flag: "new-checkout", Variant: "off"}}
	cases := []struct {
		name      string
		pol       RollbackPolicy
		kind      string
		failedJob string
		want      bool
	}{
		{"no mitigations", RollbackPolicy{Enabled: true}, ReleaseKindDeploy, "deploy", false},
		{"any job without a check target", RollbackPolicy{Enabled: true, Mitigations: ms}, ReleaseKindDeploy, "deploy", true},
		{"any job with check target pipeline", RollbackPolicy{CheckTarget: CheckTargetPipeline, Mitigations: ms}, ReleaseKindDeploy, "deploy", true},
		{"the check target", RollbackPolicy{CheckTarget: "health", Mitigations: ms}, ReleaseKindDeploy, "health", true},
		{"another job than the check target", RollbackPolicy{Enabled: true, CheckTarget: "health", Mitigations: ms}, ReleaseKindDeploy, "deploy", false},
		{"redeploy disabled", RollbackPolicy{Enabled: false, CheckTarget: "health", Mitigations: ms}, ReleaseKindDeploy, "health", true},
		{"a rollback release", RollbackPolicy{Enabled: true, Mitigations: ms}, ReleaseKindRollback, "deploy", false},
	}
	for _, c := range cases {
		r := &Release{ReleaseContent: ReleaseContent{Kind: c.kind, Policy: Environment{Rollback: c.pol}}}
		if got := r.MitigationTriggered(c.failedJob); got != c.want {
			t.Errorf("%s: MitigationTriggered(%q) = %v, want %v", c.name, c.failedJob, got, c.want)
		}
	}
}

func TestDescribeFlips(t *testing.T) {
	got := DescribeFlips([]FlagFlip{
		{Flag: "new-checkout", Variant: "off", Flipped: true, Change: 4},
		{Flag: "banner", Variant: "plain", Note: "it already served plain to everyone"},
	})
	if want := "new-checkout → off; banner not flipped (it already served plain to everyone)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

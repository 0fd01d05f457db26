package httpapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// A policy that nobody can satisfy today is applied with a warning at its
// line, and a release that cannot reach its required approvals is created
// (members may be added later) with a warning saying who can approve and
// what to do; a policy that can be satisfied warns of nothing.
func TestApprovalUnreachableWarnings(t *testing.T) {
	f := newFixture(t)
	admin, carol := f.client("admin"), f.client("carol")
	// release-managers: admin (no approver role), viewer (none), carol
	// (approver): one member may approve.
	two := strings.Replace(gatedYAML, "required: 1", "required: 2", 1)
	res, err := admin.Apply(ctx, "web.yaml", []byte(two))
	if err != nil {
		t.Fatal(err)
	}
	want := "web.yaml:9: needs 2 approvals from release-managers, which has 1 member who may approve (carol)"
	if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], want) || !strings.Contains(res.Warnings[0], "shipgate group add release-managers --user NAME") {
		t.Fatalf("apply warnings %q; want one starting %q", res.Warnings, want)
	}
	v, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "production", Version: "1.0", Artifact: artifactFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if v.State != shipgate.StatePendingApproval || len(v.Warnings) != 1 ||
		!strings.Contains(v.Warnings[0], "needs 2 approvals from release-managers, which has 1 member who may approve (carol)") ||
		!strings.Contains(v.Warnings[0], "cannot be approved as things stand") {
		t.Fatalf("created %s with warnings %q", v.State, v.Warnings)
	}

	// One approval, but the only approver created the release and may not
	// approve their own.
	if _, err := admin.Apply(ctx, "web.yaml", []byte(gatedYAML)); err != nil {
		t.Fatal(err)
	}
	v, err = carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "production", Version: "1.1", Artifact: artifactFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "needs 1 approval from release-managers, which has no member who may approve") ||
		!strings.Contains(v.Warnings[0], `"carol" created it and may not approve it`) {
		t.Fatalf("self-created warnings %q", v.Warnings)
	}
	// admin creates: carol may approve; nothing to warn of, at apply
	// either.
	res, err = admin.Apply(ctx, "web.yaml", []byte(gatedYAML))
	if err != nil || len(res.Warnings) != 0 {
		t.Fatalf("satisfiable policy: %v %q", err, res.Warnings)
	}
	if _, err := carol.Cancel(ctx, v.ID, ""); err != nil {
		t.Fatal(err)
	}
	v, err = admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "production", Version: "1.2", Artifact: artifactFile(t)})
	if err != nil || len(v.Warnings) != 0 {
		t.Fatalf("satisfiable release: %v %q", err, v.Warnings)
	}
}

func artifactFile(t *testing.T) string {
	t.Helper()
	art := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(art, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	return art
}

package httpapi_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const gatedYAML = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  environments:
    - name: production
      approvals:
        required: 1
        from_groups: [release-managers]
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`

// Over HTTP, a decision on a release that no longer waits is refused with
// the release's state whoever decides, and a non-member is told which
// groups may decide.
func TestDecisionStateBeforeMembership(t *testing.T) {
	f := newFixture(t)
	testutil.MustUser(t, f.db, "dave", []shipgate.Role{shipgate.RoleApprover})
	secret := shipgate.NewTokenSecret()
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", "dave", "", secret); return err })
	f.tokens["dave"] = secret
	if _, err := f.client("admin").Apply(ctx, "web.yaml", []byte(gatedYAML)); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("abc"), 0o644)
	v, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "production", Version: "1", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client("dave").Approve(ctx, v.ID, v.Digest, "")
	if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), `only members of "release-managers" may approve releases to production`) {
		t.Fatalf("non-member approving: %v", err)
	}
	if _, err := f.client("carol").Reject(ctx, v.ID, v.Digest, "not this one"); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("release %d is rejected; only pending_approval releases can be approved", v.ID)
	for _, who := range []string{"dave", "carol"} {
		status, out := f.raw(t, "POST", fmt.Sprintf("/api/v1/releases/%d/approve", v.ID), f.tokens[who], []byte(`{"digest":"`+v.Digest+`"}`))
		e, _ := out["error"].(map[string]any)
		if status != 412 || errorCode(out) != string(shipgate.EFAILEDPRECONDITION) || e["message"] != want {
			t.Errorf("%s approving the rejected release: %d %v", who, status, out)
		}
	}
	_, err = f.client("dave").Reject(ctx, v.ID, "sha256:0000", "")
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "is rejected; only pending_approval releases can be rejected") {
		t.Fatalf("non-member rejecting the rejected release: %v", err)
	}
}

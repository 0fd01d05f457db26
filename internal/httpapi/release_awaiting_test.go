package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const awaitService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  repository: https://git.example.com/acme/web
  inputs:
    - {name: region, default: eu}
    - {name: token, secret: true}
  environments:
    - name: prod
      approvals: {required: 2, from_groups: [release-managers]}
    - {name: dev}
  pipeline:
    jobs:
      - name: deploy
        runs_on: {role: none}
        steps: [{run: "true"}]
`

// awaiting=me lists what the caller may approve now and has not decided,
// by the approve route's own rule; created_by filters by creator.
func TestListAwaitingMeAndCreatedBy(t *testing.T) {
	f := newFixture(t)
	testutil.MustUser(t, f.db, "dave", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	testutil.MustUser(t, f.db, "olga", []shipgate.Role{shipgate.RoleApprover}) // in no group
	for _, n := range []string{"dave", "olga"} {
		secret := shipgate.NewTokenSecret()
		testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", n, "", secret); return err })
		f.tokens[n] = secret
	}
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(awaitService)); err != nil {
		t.Fatal(err)
	}
	byCarol, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "1", Artifact: artifactFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	byAdmin, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "2", Artifact: artifactFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(rs []*shipgate.Release) string {
		s := ""
		for _, r := range rs {
			s += fmt.Sprintf("%d ", r.ID)
		}
		return s
	}
	want := func(user string, rels ...*client.ReleaseView) {
		t.Helper()
		got, err := f.client(user).ReleasesAwaitingMe(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		w := ""
		for _, r := range rels {
			w += fmt.Sprintf("%d ", r.ID)
		}
		if ids(got) != w {
			t.Errorf("%s awaits %q, want %q", user, ids(got), w)
		}
	}
	want("dave", byAdmin, byCarol)
	want("carol", byAdmin) // not her own: self-approval is refused
	want("olga")           // not in release-managers
	want("viewer")         // no approver role
	if _, err := f.client("dave").Approve(ctx, byAdmin.ID, byAdmin.Digest, "ok"); err != nil {
		t.Fatal(err)
	}
	want("dave", byCarol) // decided already
	want("carol", byAdmin)

	got, err := admin.Releases(ctx, shipgate.ReleaseFilter{CreatedBy: "carol"})
	if err != nil || ids(got) != fmt.Sprintf("%d ", byCarol.ID) {
		t.Fatalf("created_by=carol: %q %v", ids(got), err)
	}
	if status, out := f.raw(t, "GET", "/api/v1/releases?awaiting=you", f.tokens["dave"], nil); status != 400 || errorCode(out) != shipgate.EINVALID {
		t.Fatalf("awaiting=you: %d %v", status, out)
	}
}

// compare names what a release changes against what runs now: nothing
// (first release), then version, inputs and secrets by whether they
// changed, never their values.
func TestCompareRelease(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(awaitService)); err != nil {
		t.Fatal(err)
	}
	first, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "dev", Version: "1", Artifact: artifactFile(t), SecretInputs: map[string]string{"token": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	cmp, err := admin.CompareRelease(ctx, first.ID)
	if err != nil || cmp.Current != nil || len(cmp.Changes) != 0 || cmp.PipelineDigest == "" {
		t.Fatalf("first release: %+v %v", cmp, err)
	}
	// As if it ran: the state is the release's mutable bookkeeping.
	if _, err := testutil.RawDB(t, f.db).Exec(`UPDATE releases SET state = 'succeeded' WHERE id = ?`, first.ID); err != nil {
		t.Fatal(err)
	}
	next, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "dev", Version: "2", Artifact: artifactFile(t),
		Inputs: map[string]string{"region": "us"}, SecretInputs: map[string]string{"token": "other"}})
	if err != nil {
		t.Fatal(err)
	}
	cmp, err = admin.CompareRelease(ctx, next.ID)
	if err != nil || cmp.Current == nil || cmp.Current.ID != first.ID {
		t.Fatalf("compare: %+v %v", cmp, err)
	}
	got := map[string]shipgate.ReleaseChange{}
	for _, c := range cmp.Changes {
		got[c.Field] = c
	}
	if c := got["version"]; c.Old != "1" || c.New != "2" || c.Change != shipgate.ChangeChanged {
		t.Errorf("version: %+v", c)
	}
	if c := got["input.region"]; c.Old != "eu" || c.New != "us" {
		t.Errorf("input.region: %+v", c)
	}
	if c := got["secret_input.token"]; c.Change != shipgate.ChangeChanged || !c.Secret || c.Old != "" || c.New != "" {
		t.Errorf("secret_input.token: %+v", c)
	}
	if _, ok := got["pipeline"]; ok {
		t.Errorf("the pipeline did not change: %+v", got["pipeline"])
	}
	cmp, err = admin.CompareRelease(ctx, first.ID)
	if err != nil || !cmp.SameRelease {
		t.Fatalf("the running release compared with itself: %+v %v", cmp, err)
	}
}

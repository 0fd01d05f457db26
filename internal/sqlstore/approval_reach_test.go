package sqlstore_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// A release that fewer people may approve than its policy requires is
// still created, and the store says why it cannot be approved: who may
// (members frozen at creation with the approver role, not its creator),
// and what to do. Members added after creation do not count. A policy
// nobody can satisfy is reported at the path of approvals.required.
func testApprovalShortfall(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: production
      approvals: {required: 2, from_groups: [release-managers]}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`)
	testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	testutil.MustUser(t, db, "carol", []shipgate.Role{shipgate.RoleDeployer, shipgate.RoleApprover}, "release-managers")
	testutil.MustUser(t, db, "vic", []shipgate.Role{shipgate.RoleViewer}, "release-managers")
	r, err := newRelease(db, "production", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	warning := func(r *shipgate.Release) string {
		var msg string
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			var err error
			msg, err = tx.ReleaseApprovalWarning(ctx, r)
			return err
		})
		return msg
	}
	got := warning(find(db, r.ID))
	for _, want := range []string{"needs 2 approvals from release-managers, which has 1 member who may approve (alice)", `"carol" created it and may not approve it`,
		"shipgate group add release-managers --user NAME", "members added now cannot approve this release"} {
		if !strings.Contains(got, want) {
			t.Errorf("warning %q lacks %q", got, want)
		}
	}
	// Added after creation: does not count for this release.
	testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	if got := warning(find(db, r.ID)); !strings.Contains(got, "which has 1 member who may approve (alice)") {
		t.Errorf("after bob joined: %q", got)
	}
	// A new release counts bob: alice and bob may approve it.
	r2, err := newRelease(db, "production", "1.1", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if got := warning(find(db, r2.ID)); got != "" {
		t.Errorf("satisfiable release warned: %q", got)
	}

	var spec *shipgate.ServiceSpec
	db.View(ctx, func(tx *sqlstore.Tx) error {
		s, err := tx.FindService(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		spec = &s.Spec
		return nil
	})
	spec.Environments[0].Approvals.Required = 4
	var problems []shipgate.FieldError
	db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		problems, err = tx.PolicyApprovalWarnings(ctx, spec, nil)
		return err
	})
	if len(problems) != 1 || problems[0].Path != "spec.environments[0].approvals.required" ||
		!strings.Contains(problems[0].Message, "needs 4 approvals from release-managers, which has 3 members who may approve (alice, bob, carol)") {
		t.Fatalf("policy warnings %+v", problems)
	}
	verify(t, db)
}

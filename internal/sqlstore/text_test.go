package sqlstore_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// The store asks the domain's text rules itself, so no caller — the API,
// the built-in paths, a future one — stores a version, reason, comment or
// name that would reach a terminal or chat raw; a refusal changes nothing.
func testUnprintableText(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	ok, err := newRelease(db, "staging", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	before := verify(t, db)
	alice := &shipgate.User{Name: "alice", Roles: []shipgate.Role{shipgate.RoleApprover}, Groups: []string{"release-managers"}}
	for _, tt := range []struct {
		name string
		fn   func(tx *sqlstore.Tx) error
		msg  string
	}{
		{"version with ESC", func(tx *sqlstore.Tx) error {
			_, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "2.0\x1b[2K\rrelease approved", Artifact: testutil.Artifact("2.0"), CreatedBy: "carol"})
			return err
		}, `version "2.0\x1b[2K\rrelease approved" is not valid`},
		{"ref with a newline", func(tx *sqlstore.Tx) error {
			_, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "2.0", Artifact: testutil.Artifact("2.0"),
				Source: shipgate.Source{Ref: "main\nrelease approved"}, CreatedBy: "carol"})
			return err
		}, `ref contains the control character "\n"`},
		{"comment with ESC", func(tx *sqlstore.Tx) error {
			_, _, err := reconcile.Decide(ctx, tx, alice, ok.ID, shipgate.DecisionApprove, ok.Digest, "fine\x1b[8m")
			return err
		}, `comment contains the control character "\x1b"`},
		{"cancel reason with CR", func(tx *sqlstore.Tx) error {
			_, err := reconcile.CancelRelease(ctx, tx, "carol", ok.ID, "x\rcancelled by nobody")
			return err
		}, `reason contains the control character "\r"`},
		{"token name with bidi", func(tx *sqlstore.Tx) error {
			_, err := tx.CreateToken(ctx, "admin", "alice", "ci\u202e", shipgate.NewTokenSecret())
			return err
		}, `token name contains the control character "\u202e"`},
		{"agent token name with ESC", func(tx *sqlstore.Tx) error {
			_, err := tx.CreateAgentToken(ctx, "admin", sqlstore.NewAgentToken{Name: "hosts\x1b[0m"}, shipgate.NewSecret(shipgate.AgentTokenPrefix))
			return err
		}, `token name contains the control character "\x1b"`},
		{"service filename with ESC", func(tx *sqlstore.Tx) error {
			_, _, err := tx.ApplyService(ctx, "admin", mustParse(t, testutil.ServiceYAML+"# more\n"), "web\x1b.yaml", testutil.ServiceYAML+"# more\n")
			return err
		}, `filename contains the control character "\x1b"`},
	} {
		err := db.Update(ctx, tt.fn)
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v; want invalid with %q", tt.name, err, tt.msg)
		}
	}
	if after := verify(t, db); after != before {
		t.Fatalf("refusals wrote %d audit events", after-before)
	}

	// What the rules now refuse may still be in a database from before
	// them: the store hands it back as it is, and printing it safely is
	// the job of every output (the CLI, notifications).
	hostile := "9.9\x1b[2K\r<!channel>"
	id := testutil.InsertRawRelease(t, db, "web", "staging", func(c *shipgate.ReleaseContent) {
		c.Version, c.Source.Ref = hostile, "main\u202e"
	})
	db.View(ctx, func(tx *sqlstore.Tx) error {
		r, err := tx.FindRelease(ctx, id)
		if err != nil || r.Version != hostile || r.Source.Ref != "main\u202e" || r.Digest != r.ReleaseContent.Digest() {
			t.Fatalf("raw release read back as %+v, %v", r, err)
		}
		return nil
	})
}

package sqlstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/policy"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const storeTicketPolicy = `package shipgate.ticket

deny contains "a ticket is required" if not input.release.inputs.ticket

warn contains sprintf("región %s ✓", [input.release.inputs.region]) if input.release.inputs.region
`

// testPolicies: revisions, the directory winning over the API, audit.
func testPolicies(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	apply := func(actor, origin, src string) (*shipgate.PolicyRevision, bool, error) {
		var rev *shipgate.PolicyRevision
		var changed bool
		err := db.Update(ctx, func(tx *sqlstore.Tx) error {
			var err error
			rev, changed, err = tx.ApplyPolicy(ctx, actor, origin, "ticket", "ticket.rego", src)
			return err
		})
		return rev, changed, err
	}
	before := verify(t, db)
	if rev, changed, err := apply("alice", shipgate.PolicySourceAPI, storeTicketPolicy); err != nil || !changed || rev.Revision != 1 {
		t.Fatalf("first apply: %+v %v %v", rev, changed, err)
	}
	if rev, changed, err := apply("alice", shipgate.PolicySourceAPI, storeTicketPolicy); err != nil || changed || rev.Revision != 1 {
		t.Fatalf("same source again: %+v %v %v", rev, changed, err)
	}
	if verify(t, db) != before+1 {
		t.Fatal("an unchanged apply was audited")
	}
	// The directory takes the name over; the API may not take it back.
	if rev, changed, err := apply(shipgate.SystemActor, shipgate.PolicySourceDir, storeTicketPolicy); err != nil || !changed || rev.Revision != 2 || rev.Origin != "dir" {
		t.Fatalf("directory takes over: %+v %v %v", rev, changed, err)
	}
	if _, _, err := apply("alice", shipgate.PolicySourceAPI, storeTicketPolicy+"\n# v3\n"); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "--policy-dir") {
		t.Fatalf("API apply over a directory policy: %v", err)
	}
	if _, _, err := apply("alice", shipgate.PolicySourceAPI+"x", storeTicketPolicy); err == nil {
		t.Fatal("unknown origin taken")
	}
	db.View(ctx, func(tx *sqlstore.Tx) error {
		ps, err := tx.ListPolicies(ctx)
		if err != nil || len(ps) != 1 || ps[0].Revision != 2 || ps[0].Source != "" {
			t.Fatalf("list: %+v %v", ps, err)
		}
		one, err := tx.FindPolicy(ctx, "ticket", 1)
		if err != nil || one.Source != storeTicketPolicy || one.AppliedBy != "alice" || one.Origin != "api" {
			t.Fatalf("revision 1: %+v %v", one, err)
		}
		if _, err := tx.FindPolicy(ctx, "ticket", 9); shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), "no revision 9") {
			t.Fatalf("missing revision: %v", err)
		}
		if _, err := tx.FindPolicy(ctx, "nope", 0); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Fatalf("missing policy: %v", err)
		}
		missing, err := tx.MissingPolicies(ctx, []string{"ticket", "nope"})
		if err != nil || len(missing) != 1 || missing[0] != "nope" {
			t.Fatalf("missing: %v %v", missing, err)
		}
		if _, err := tx.PolicyBundle(ctx, []string{"ticket", "nope"}); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
			t.Fatalf("bundle naming a missing policy: %v", err)
		}
		return nil
	})
	var events []shipgate.AuditEvent
	db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		events, err = tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 1000})
		return err
	})
	applied := 0
	for _, e := range events {
		if e.Action == shipgate.ActionPolicyApplied && e.Subject == "policy/ticket" {
			applied++
		}
	}
	if applied != 2 {
		t.Fatalf("%d policy.applied events, want 2", applied)
	}
}

// testPolicyDecisions: gates through reconcile on a real store — a
// refused create is recorded once its transaction rolled back, with no
// release; an allowed one with its release; bundles kept once.
func testPolicyDecisions(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, _, err := tx.ApplyPolicy(ctx, "alice", shipgate.PolicySourceAPI, "ticket", "ticket.rego", storeTicketPolicy)
		return err
	})
	testutil.MustApply(t, db, strings.Replace(testutil.ServiceYAML, "approvals: { required: 0 }", "approvals: { required: 0 }\n      policies: [ticket]", 1))

	_, err := newRelease(db, "staging", "1.0", "carol")
	var denied *shipgate.PolicyDeniedError
	if !errors.As(err, &denied) || shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || denied.Decision.ID == 0 ||
		!strings.Contains(err.Error(), "ticket: a ticket is required") || !strings.Contains(err.Error(), "policy replay") {
		t.Fatalf("create without a ticket: %v", err)
	}
	var list []*shipgate.Release
	db.View(ctx, func(tx *sqlstore.Tx) error {
		list, _ = tx.ListReleases(ctx, shipgate.ReleaseFilter{})
		return nil
	})
	if len(list) != 0 {
		t.Fatalf("a refused create left %d releases", len(list))
	}
	ok, err := newReleaseWith(db, "staging", "1.1", "carol", map[string]string{"ticket": "CHG-1", "region": "eu"})
	if err != nil {
		t.Fatal(err)
	}
	db.View(ctx, func(tx *sqlstore.Tx) error {
		all, err := tx.ListPolicyDecisions(ctx, shipgate.PolicyDecisionFilter{})
		if err != nil || len(all) < 3 {
			t.Fatalf("decisions: %+v %v", all, err)
		}
		d0, d1 := all[0], all[1]
		if d0.ReleaseID != 0 || d0.Result != "deny" || d0.Point != "create" || d0.Actor != "carol" || d0.Input != "" {
			t.Fatalf("refused create: %+v", d0)
		}
		if d1.ReleaseID != ok.ID || d1.Result != "allow" || len(d1.Warn) != 1 || d1.Warn[0] != "ticket: región eu ✓" || d1.BundleDigest != d0.BundleDigest {
			t.Fatalf("allowed create: %+v", d1)
		}
		full, err := tx.FindPolicyDecision(ctx, d0.ID)
		if err != nil || !strings.HasPrefix(full.Input, `{"actor":"carol","approvals":[]`) || !strings.Contains(full.Input, `"current_release":null`) {
			t.Fatalf("stored input: %v %.200s", err, full.Input)
		}
		b, raw, err := tx.FindPolicyBundle(ctx, d0.BundleDigest)
		if err != nil || len(b.Modules) != 1 || b.Modules[0].Source != storeTicketPolicy || len(raw) == 0 {
			t.Fatalf("bundle: %+v %v", b, err)
		}
		mine, err := tx.ListPolicyDecisions(ctx, shipgate.PolicyDecisionFilter{ReleaseID: ok.ID, Point: "start"})
		if err != nil || len(mine) != 1 || mine[0].Actor != shipgate.SystemActor || mine[0].Result != "allow" {
			t.Fatalf("start decision: %+v %v", mine, err)
		}
		last, err := tx.LastPolicyDecision(ctx, ok.ID, "start")
		if err != nil || last == nil || last.ID != mine[0].ID {
			t.Fatalf("last start decision: %+v %v", last, err)
		}
		if none, err := tx.LastPolicyDecision(ctx, ok.ID, "promote"); err != nil || none != nil {
			t.Fatalf("no promote decision: %+v %v", none, err)
		}
		after, err := tx.ListPolicyDecisions(ctx, shipgate.PolicyDecisionFilter{AfterID: d0.ID, Result: "allow", Limit: 1})
		if err != nil || len(after) != 1 || after[0].ID != d1.ID {
			t.Fatalf("paging: %+v %v", after, err)
		}
		if _, err := tx.FindPolicyDecision(ctx, 999); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Fatalf("missing decision: %v", err)
		}
		var n int
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 1000})
		for _, e := range events {
			if e.Action == shipgate.ActionPolicyDecided {
				n++
			}
		}
		if n != len(all) {
			t.Fatalf("%d policy.decided events for %d decisions", n, len(all))
		}
		return nil
	})
	verify(t, db)
}

func newReleaseWith(db *sqlstore.DB, env, version, by string, inputs map[string]string) (*shipgate.Release, error) {
	var r *shipgate.Release
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		var err error
		r, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{
			Service: "web", Environment: env, Version: version, Artifact: testutil.Artifact(version), Inputs: inputs, CreatedBy: by,
		})
		if err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return find(db, r.ID), nil
}

// testPolicyDecisionTampered: a decision row rewritten in the database —
// its input (with a matching input digest) and its result — no longer
// matches the policy.decided event that linked it into the audit chain,
// and CheckPolicyDecision says so; replay must not vouch for it.
func testPolicyDecisionTampered(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, _, err := tx.ApplyPolicy(ctx, "alice", shipgate.PolicySourceAPI, "ticket", "ticket.rego", storeTicketPolicy)
		return err
	})
	testutil.MustApply(t, db, strings.Replace(testutil.ServiceYAML, "approvals: { required: 0 }", "approvals: { required: 0 }\n      policies: [ticket]", 1))
	if _, err := newRelease(db, "staging", "1.0", "carol"); err == nil {
		t.Fatal("create without a ticket allowed")
	}
	ok, err := newReleaseWith(db, "staging", "1.1", "carol", map[string]string{"ticket": "CHG-1"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(id int64) error {
		return db.View(ctx, func(tx *sqlstore.Tx) error {
			d, err := tx.FindPolicyDecision(ctx, id)
			if err != nil {
				return err
			}
			return tx.CheckPolicyDecision(ctx, d)
		})
	}
	var ds []shipgate.PolicyDecision
	db.View(ctx, func(tx *sqlstore.Tx) error {
		ds, err = tx.ListPolicyDecisions(ctx, shipgate.PolicyDecisionFilter{})
		return err
	})
	if len(ds) < 2 || ds[0].Result != "deny" || ds[1].ReleaseID != ok.ID {
		t.Fatalf("decisions: %+v", ds)
	}
	for _, d := range ds {
		if err := check(d.ID); err != nil {
			t.Fatalf("untouched decision %d: %v", d.ID, err)
		}
	}
	var input string
	db.View(ctx, func(tx *sqlstore.Tx) error {
		d, err := tx.FindPolicyDecision(ctx, ds[0].ID)
		input = d.Input
		return err
	})
	forged := strings.Replace(input, `"inputs":{`, `"inputs":{"ticket":"CHG-9",`, 1)
	if forged == input {
		t.Fatalf("input has no inputs: %s", input)
	}
	raw := rawDB(t, db, engine)
	q := `UPDATE policy_decisions SET input = ?, input_digest = ?, result = 'allow', deny = '[]' WHERE id = ?`
	if engine == "postgres" {
		q = `UPDATE policy_decisions SET input = $1, input_digest = $2, result = 'allow', deny = '[]' WHERE id = $3`
	}
	if _, err := raw.Exec(q, forged, policy.Digest([]byte(forged)), ds[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := check(ds[0].ID); shipgate.ErrorCode(err) != shipgate.EINTERNAL || !strings.Contains(err.Error(), "does not match its policy.decided audit event") {
		t.Fatalf("tampered decision: %v", err)
	}
	if err := check(ds[1].ID); err != nil {
		t.Fatalf("the other decision: %v", err)
	}
}

package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const governedYAML = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  owner: web-team
  runbook: https://wiki.example.com/web
  environments:
    - name: staging
      approvals: { required: 0 }
      checklist:
        - name: qa sign-off
          gate: start
          manual: { owner: qa }
    - name: production
      approvals: { required: 0 }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`

func governedRelease(t *testing.T, db *sqlstore.DB, env, version string) *shipgate.Release {
	t.Helper()
	r, err := newRelease(db, env, version, "carol")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A start-gated manual item holds a release queued until a member of its
// owner group ticks it with a link; others are refused and nothing is
// written.
func testChecklistTicks(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, governedYAML)
	testutil.MustUser(t, db, "carol", []shipgate.Role{shipgate.RoleDeployer})
	testutil.MustUser(t, db, "quinn", []shipgate.Role{shipgate.RoleViewer}, "qa")
	r := governedRelease(t, db, "staging", "1.0")
	if r.Owner != "web-team" || r.Runbook != "https://wiki.example.com/web" {
		t.Fatalf("ownership not frozen into the release: %q %q", r.Owner, r.Runbook)
	}
	if r.State != shipgate.StateQueued || !strings.Contains(r.Reason, "waiting for its checklist: qa sign-off (not ticked yet") {
		t.Fatalf("%s: %s", r.State, r.Reason)
	}
	before := verify(t, db)
	tick := func(who, item, link string) error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, err := reconcile.TickChecklist(ctx, tx, &shipgate.ChecklistTick{ReleaseID: r.ID, Item: item, Actor: who, Link: link})
			return err
		})
	}
	for _, c := range []struct{ who, item, link, code, msg string }{
		{"carol", "qa sign-off", "https://t.example/1", shipgate.EFORBIDDEN, "only a member of qa may tick"},
		{"quinn", "qa sign-off", "", shipgate.EINVALID, "evidence link"},
		{"quinn", "qa sign-off", "javascript:alert(1)", shipgate.EINVALID, "not an http(s) URL"},
		{"quinn", "security review", "https://t.example/1", shipgate.ENOTFOUND, `its items: "qa sign-off"`},
	} {
		err := tick(c.who, c.item, c.link)
		if shipgate.ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Fatalf("%s ticks %q with %q: %v; want %s %q", c.who, c.item, c.link, err, c.code, c.msg)
		}
	}
	if n := verify(t, db); n != before {
		t.Fatalf("refused ticks wrote %d audit events", n-before)
	}
	if err := tick("quinn", "qa sign-off", "https://t.example/QA-7"); err != nil {
		t.Fatal(err)
	}
	r = find(db, r.ID)
	if r.State != shipgate.StateRunning {
		t.Fatalf("ticked, still %s: %s", r.State, r.Reason)
	}
	var states []shipgate.ChecklistItemState
	testutil.Update(t, db, func(tx *sqlstore.Tx) (err error) { states, err = tx.Checklist(ctx, r); return err })
	if len(states) != 1 || !states[0].Holds || states[0].Tick.Actor != "quinn" || states[0].Tick.Link != "https://t.example/QA-7" {
		t.Fatalf("%+v", states)
	}
	if n := verify(t, db); n <= before {
		t.Fatal("the tick was not audited")
	}
}

// A freeze holds a release queued; an override needs a member of the
// override group other than the requester; ending the freeze lets the
// next release start.
func testFreezes(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, governedYAML)
	testutil.MustUser(t, db, "carol", []shipgate.Role{shipgate.RoleDeployer}, "incident-commanders")
	testutil.MustUser(t, db, "dave", []shipgate.Role{shipgate.RoleApprover}, "qa")
	testutil.MustUser(t, db, "ian", []shipgate.Role{shipgate.RoleViewer}, "incident-commanders")
	now := clock.Now()
	create := func(f shipgate.Freeze) (*shipgate.Freeze, error) {
		f.CreatedBy = "admin"
		err := db.Update(ctx, func(tx *sqlstore.Tx) error { return tx.CreateFreeze(ctx, &f) })
		return &f, err
	}
	if _, err := create(shipgate.Freeze{Environment: "prod", From: now, To: now.Add(time.Hour), Reason: "x"}); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("unknown environment: %v", err)
	}
	if _, err := create(shipgate.Freeze{Environment: "production", From: now, To: now.Add(time.Hour)}); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("no reason: %v", err)
	}
	f, err := create(shipgate.Freeze{Environment: "production", From: now.Add(-time.Minute), To: now.Add(2 * time.Hour), Reason: "black friday"})
	if err != nil {
		t.Fatal(err)
	}
	r := governedRelease(t, db, "production", "1.0")
	if r.State != shipgate.StateQueued || !strings.Contains(r.Reason, "frozen until") || !strings.Contains(r.Reason, "black friday") || r.WaitUntil == nil {
		t.Fatalf("%s: %s", r.State, r.Reason)
	}
	stg := governedRelease(t, db, "staging", "1.0")
	if strings.Contains(stg.Reason, "frozen") {
		t.Fatalf("staging is not frozen: %s", stg.Reason)
	}
	// No freeze covers staging: an override there would, once granted, let
	// the release through freezes not yet made. Refused, nothing stored.
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.RequestFreezeOverride(ctx, stg.ID, "carol", "just in case")
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(shipgate.ErrorMessage(err), "nothing to override") {
		t.Fatalf("an override without a freeze: %v", err)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.RequestFreezeOverride(ctx, r.ID, "carol", "checkout is down")
		return err
	})
	approve := func(who, group string) error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, err := reconcile.ApproveFreezeOverride(ctx, tx, r.ID, who, group)
			return err
		})
	}
	for _, c := range []struct{ who, group, code, msg string }{
		{"carol", "incident-commanders", shipgate.EFORBIDDEN, "requested this override"},
		{"dave", "incident-commanders", shipgate.EFORBIDDEN, "only a member of incident-commanders"},
		{"ian", "", shipgate.EFAILEDPRECONDITION, "freezes.override_group"},
	} {
		if err := approve(c.who, c.group); shipgate.ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Fatalf("%s approves: %v; want %s %q", c.who, err, c.code, c.msg)
		}
	}
	if r := find(db, r.ID); r.State != shipgate.StateQueued {
		t.Fatalf("refused overrides let it go: %s", r.State)
	}
	if err := approve("ian", "incident-commanders"); err != nil {
		t.Fatal(err)
	}
	if r := find(db, r.ID); r.State != shipgate.StateRunning {
		t.Fatalf("override approved, still %s: %s", r.State, r.Reason)
	}
	finishRun(t, db, r.ID, true)

	r2 := governedRelease(t, db, "production", "2.0")
	if !strings.Contains(r2.Reason, "frozen until") {
		t.Fatalf("the override was for release %d only: %s", r.ID, r2.Reason)
	}
	var listed []shipgate.Freeze
	testutil.Update(t, db, func(tx *sqlstore.Tx) (err error) {
		if _, err = tx.EndFreeze(ctx, f.ID, "admin"); err != nil {
			return err
		}
		if _, err := tx.EndFreeze(ctx, f.ID, "admin"); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
			t.Errorf("ended twice: %v", err)
		}
		if listed, err = tx.ListFreezes(ctx, false); err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r2.ID)
		return err
	})
	if len(listed) != 0 {
		t.Fatalf("an ended freeze is listed as current: %+v", listed)
	}
	if r2 := find(db, r2.ID); r2.State != shipgate.StateRunning {
		t.Fatalf("freeze ended, still %s: %s", r2.State, r2.Reason)
	}
	verify(t, db)
}

// testFreezeHoldsPastManyLater: the freeze in force holds releases however
// many freezes were scheduled after it (a year of weekend freezes created
// ahead): the decider's view of freezes is not a page of the newest.
func testFreezeHoldsPastManyLater(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, governedYAML)
	now := clock.Now()
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if err := tx.CreateFreeze(ctx, &shipgate.Freeze{Environment: "production", From: now.Add(-time.Minute), To: now.Add(time.Hour), Reason: "in force", CreatedBy: "admin"}); err != nil {
			return err
		}
		for i := 1; i <= 520; i++ {
			from := now.Add(time.Duration(i) * 7 * 24 * time.Hour)
			if err := tx.CreateFreeze(ctx, &shipgate.Freeze{Service: "web", From: from, To: from.Add(48 * time.Hour), Reason: "weekend", CreatedBy: "admin"}); err != nil {
				return err
			}
		}
		return nil
	})
	r := governedRelease(t, db, "production", "1.0")
	if r.State != shipgate.StateQueued || !strings.Contains(r.Reason, "in force") {
		t.Fatalf("the freeze in force did not hold the release: %s: %s", r.State, r.Reason)
	}
}

package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const governedFlagYAML = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
    - key: banner
      type: string
      variants: { plain: "hi", fancy: "hello!" }
      default_variant: fancy
      safe_variant: plain
  environments:
    - name: staging
      approvals: { required: 0 }
    - name: production
      approvals: { required: 0 }
      flag_approvals: { required: 2, from_groups: [release-managers], expires_after: 1h }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`

// TestFlagGovernance: people's flag changes on SQLite and PostgreSQL —
// applied at once where no approvals are required, waiting where they
// are, never approved by their requester, applied on the last approval,
// superseded when the flag moved, expired after expires_after; the kill
// applies at once and is audited; bad changes change nothing.
func TestFlagGovernance(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testFlagGovernance(t, engine)
		})
	}
}

func flagUpdate(t *testing.T, db *sqlstore.DB, fn func(tx *sqlstore.Tx) (*shipgate.FlagChange, error)) (*shipgate.FlagChange, error) {
	t.Helper()
	var c *shipgate.FlagChange
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		var err error
		c, err = fn(tx)
		return err
	})
	return c, err
}

func flagAudit(t *testing.T, db *sqlstore.DB, action string) []shipgate.AuditEvent {
	t.Helper()
	var out []shipgate.AuditEvent
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		all, err := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
		for _, e := range all {
			if e.Action == action {
				out = append(out, e)
			}
		}
		return err
	})
	return out
}

func testFlagGovernance(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, governedFlagYAML)
	olga := testutil.MustUser(t, db, "olga", []shipgate.Role{shipgate.RoleDeployer, shipgate.RoleApprover}, "release-managers")
	amy := testutil.MustUser(t, db, "amy", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	ben := testutil.MustUser(t, db, "ben", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	zed := testutil.MustUser(t, db, "zed", []shipgate.Role{shipgate.RoleApprover})
	change := func(env, key string, op shipgate.FlagChangeOp, reason string, mutate func(*shipgate.Flag) error) (*shipgate.FlagChange, error) {
		return flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
			return tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "olga", Service: "web", Environment: env, Key: key, Op: op, Reason: reason, Mutate: mutate})
		})
	}
	approve := func(id int64, u *shipgate.User) (*shipgate.FlagChange, error) {
		return flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) { return tx.ApproveFlagChange(ctx, id, u, "ok") })
	}

	// Bad changes are refused and change nothing.
	before := findFlag(t, db, "web", "staging", "banner")
	for _, tc := range []struct {
		op     shipgate.FlagChangeOp
		reason string
		mutate func(*shipgate.Flag) error
		want   string
	}{
		{shipgate.FlagOpDisable, "", nil, "a reason is required"},
		{shipgate.FlagOpDisable, "two\nlines", nil, "one line"},
		{shipgate.FlagOpDisable, strings.Repeat("x", shipgate.MaxFlagReasonLen+1), nil, "longer than"},
		{shipgate.FlagOpEnable, "why not", nil, "enabled already"},
		{shipgate.FlagOpSet, "bad", func(f *shipgate.Flag) error { f.DefaultVariant = "shiny"; return nil }, `default_variant "shiny" is not a variant`},
		{shipgate.FlagOpSet, "same", func(f *shipgate.Flag) error { return nil }, "nothing to change"},
		{shipgate.FlagOpSet, "rename", func(f *shipgate.Flag) error { f.Key = "other"; return nil }, `not "banner"`},
		{shipgate.FlagOpKill, "sneaky", nil, "its own command"},
	} {
		if _, err := change("staging", "banner", tc.op, tc.reason, tc.mutate); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: err = %v, want %q", tc.op, tc.reason, err, tc.want)
		}
	}
	if _, err := change("qa", "banner", shipgate.FlagOpDisable, "x", nil); shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), "staging, production") {
		t.Errorf("unknown environment: %v", err)
	}
	if _, err := change("staging", "nope", shipgate.FlagOpDisable, "x", nil); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Errorf("unknown flag: %v", err)
	}
	if after := findFlag(t, db, "web", "staging", "banner"); after.Version != before.Version {
		t.Fatalf("refused changes moved the flag to version %d", after.Version)
	}

	// Staging: applied at once; set may create a flag.
	c, err := change("staging", "banner", shipgate.FlagOpRollout, "ramp", func(f *shipgate.Flag) error {
		f.Rollout = &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "fancy", Percent: 25}, {Variant: "plain", Percent: 75}}}
		return nil
	})
	if err != nil || c.State != shipgate.FlagChangeApplied || c.Before.Rollout != nil || c.After.Rollout == nil {
		t.Fatalf("rollout: %+v %v", c, err)
	}
	c, err = change("staging", "dark-mode", shipgate.FlagOpSet, "new flag", func(f *shipgate.Flag) error {
		*f = shipgate.Flag{Key: "dark-mode", Type: shipgate.FlagBoolean, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "off", SafeVariant: "off"}
		return nil
	})
	if err != nil || c.Before != nil || findFlag(t, db, "web", "staging", "dark-mode").Declared {
		t.Fatalf("set a new flag: %+v %v", c, err)
	}

	// Production: waits for two approvals from release-managers, never
	// the requester's.
	c, err = change("production", "new-checkout", shipgate.FlagOpDisable, "too slow", nil)
	if err != nil || c.State != shipgate.FlagChangePending || c.ID == 0 {
		t.Fatalf("production disable: %+v %v", c, err)
	}
	if !strings.Contains(c.Awaiting, "needs 2 more approvals (of 2)") || !strings.Contains(c.Awaiting, "amy or ben may approve") || !strings.Contains(c.Awaiting, "olga asked for it") {
		t.Fatalf("awaiting = %q", c.Awaiting)
	}
	if p := findFlag(t, db, "web", "production", "new-checkout"); p.Flag.Disabled {
		t.Fatal("a pending change applied")
	}
	if ev := flagAudit(t, db, shipgate.ActionFlagChangeRequested); len(ev) != 1 || ev[0].Subject != shipgate.FlagChangeSubject(c.ID) || ev[0].Actor != "olga" {
		t.Fatalf("request audit = %+v", ev)
	}
	if _, err := approve(c.ID, olga); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "never self-approved") {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := approve(c.ID, zed); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "release-managers") {
		t.Fatalf("approval from outside the group: %v", err)
	}
	got, err := approve(c.ID, amy)
	if err != nil || got.State != shipgate.FlagChangePending || !strings.Contains(got.Awaiting, `needs 1 more approval (of 2) from members of "release-managers": ben may approve`) {
		t.Fatalf("first approval: %+v %v", got, err)
	}
	if _, err := approve(c.ID, amy); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("second approval by the same person: %v", err)
	}
	got, err = approve(c.ID, ben)
	if err != nil || got.State != shipgate.FlagChangeApplied || got.DecidedBy != "ben" {
		t.Fatalf("last approval: %+v %v", got, err)
	}
	p := findFlag(t, db, "web", "production", "new-checkout")
	if !p.Flag.Disabled || p.UpdatedBy != "olga" {
		t.Fatalf("approved change not applied: %+v", p)
	}
	if ev := flagAudit(t, db, shipgate.ActionFlagChanged); !strings.Contains(string(ev[len(ev)-1].Details), `"approved_by":["amy","ben"]`) {
		t.Fatalf("applied change audit = %s", ev[len(ev)-1].Details)
	}

	// Superseded: a kill lands while an enable waits.
	c, _ = change("production", "banner", shipgate.FlagOpSet, "copy", func(f *shipgate.Flag) error { f.Description = "the banner"; return nil })
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.KillFlag(ctx, "olga", "web", "production", "banner", "INC-9 banner broke layout")
	}); err != nil {
		t.Fatal(err)
	}
	approve(c.ID, amy)
	got, err = approve(c.ID, ben)
	if err != nil || got.State != shipgate.FlagChangeSuperseded || shipgate.ErrorCode(got.DroppedError()) != shipgate.ECONFLICT {
		t.Fatalf("superseded: %+v %v", got, err)
	}
	if b := findFlag(t, db, "web", "production", "banner"); b.Flag.Description != "" || !b.Flag.Disabled {
		t.Fatalf("a superseded change applied: %+v", b.Flag)
	}
	if ev := flagAudit(t, db, shipgate.ActionFlagChangeDropped); len(ev) != 1 || !strings.Contains(string(ev[0].Details), `"state":"superseded"`) {
		t.Fatalf("dropped audit = %+v", ev)
	}

	// Expired: after expires_after an approval finds it expired; the
	// sweep expires the rest.
	c1, _ := change("production", "banner", shipgate.FlagOpEnable, "fixed", nil)
	c2, _ := change("production", "new-checkout", shipgate.FlagOpEnable, "fixed", nil)
	clock.Add(time.Hour)
	got, err = approve(c1.ID, amy)
	if err != nil || got.State != shipgate.FlagChangeExpired || shipgate.ErrorCode(got.DroppedError()) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("expired approval: %+v %v", got, err)
	}
	var n int
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { var err error; n, err = tx.ExpireFlagChanges(ctx); return err })
	if n != 1 {
		t.Fatalf("swept %d changes, want 1", n)
	}
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		c, err := tx.FindFlagChange(ctx, c2.ID)
		if err == nil && c.State != shipgate.FlagChangeExpired {
			t.Errorf("change %d is %s", c.ID, c.State)
		}
		return err
	})

	// A new definition of a killed flag keeps it killed.
	c, err = change("staging", "new-checkout", shipgate.FlagOpDisable, "pause", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err = change("staging", "new-checkout", shipgate.FlagOpSet, "describe it", func(f *shipgate.Flag) error {
		f.Disabled, f.Description = false, "the new checkout"
		return nil
	})
	if err != nil || !c.After.Disabled || c.After.Description != "the new checkout" {
		t.Fatalf("set on a disabled flag: %+v %v", c, err)
	}

	// The kill: at once, audited with reason and before/after; again: refused.
	k, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.KillFlag(ctx, "olga", "web", "staging", "banner", "INC-10")
	})
	if err != nil || k.Op != shipgate.FlagOpKill || k.State != shipgate.FlagChangeApplied || k.Before.Disabled || !k.After.Disabled {
		t.Fatalf("kill: %+v %v", k, err)
	}
	ver := findFlag(t, db, "web", "staging", "banner").Version
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.KillFlag(ctx, "olga", "web", "staging", "banner", "again")
	}); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "killed already: it serves plain to everyone") {
		t.Fatalf("second kill: %v", err)
	}
	if v := findFlag(t, db, "web", "staging", "banner").Version; v != ver {
		t.Fatal("a refused kill changed the flag")
	}
	kills := flagAudit(t, db, shipgate.ActionFlagKilled)
	last := string(kills[len(kills)-1].Details)
	for _, want := range []string{`"reason":"INC-10"`, `"severity":"incident"`, `"before":{`, `"disabled":true`} {
		if !strings.Contains(last, want) {
			t.Errorf("kill audit lacks %s: %s", want, last)
		}
	}
}

// TestKillReleaseFlags: "flag kill --release" kills every flag the release
// introduced in its environment in one transaction, skips those killed
// already, puts the kill on the release's timeline, and refuses when there
// is nothing to kill.
func TestKillReleaseFlags(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			db, _ := newStore(t, engine)
			testutil.MustApply(t, db, governedFlagYAML)
			testutil.MustUser(t, db, "carol", []shipgate.Role{shipgate.RoleDeployer})
			r, err := newRelease(db, "staging", "1.0", "carol")
			if err != nil {
				t.Fatal(err)
			}
			kill := func() ([]shipgate.FlagChange, error) {
				var out []shipgate.FlagChange
				err := db.Update(ctx, func(tx *sqlstore.Tx) error {
					var err error
					out, err = tx.KillReleaseFlags(ctx, "carol", r.ID, "INC-11 release 1.0 is bad")
					return err
				})
				return out, err
			}
			if _, err := kill(); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "declares no flags") {
				t.Fatalf("no flags: %v", err)
			}
			testutil.Update(t, db, func(tx *sqlstore.Tx) error {
				r, err = sqlstore.ReleaseWithFlagsForTest(tx, r, []string{"new-checkout", "banner", "gone"})
				return err
			})
			if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
				return tx.KillFlag(ctx, "carol", "web", "staging", "banner", "earlier")
			}); err != nil {
				t.Fatal(err)
			}
			out, err := kill()
			if err != nil || len(out) != 1 || out[0].Key != "new-checkout" || out[0].ReleaseID != r.ID {
				t.Fatalf("kill --release: %+v %v", out, err)
			}
			if !findFlag(t, db, "web", "staging", "new-checkout").Flag.Disabled || findFlag(t, db, "web", "production", "new-checkout").Flag.Disabled {
				t.Fatal("the kill must turn off the release's environment's flag only")
			}
			testutil.View(t, db, func(tx *sqlstore.Tx) error {
				tl, err := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: r.ID})
				found := false
				for _, e := range tl {
					found = found || (e.Action == shipgate.ActionReleaseFlagsKilled && strings.Contains(string(e.Details), `"flags":["new-checkout"]`))
				}
				if !found {
					t.Errorf("the release's timeline lacks the kill: %+v", tl)
				}
				cs, _ := tx.ListFlagChanges(ctx, sqlstore.FlagChangeFilter{ReleaseID: r.ID})
				if len(cs) != 1 {
					t.Errorf("changes of the release = %+v", cs)
				}
				return err
			})
			if _, err := kill(); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "killed already") {
				t.Fatalf("nothing left to kill: %v", err)
			}
		})
	}
}

// TestFlagApprovalsFollowMembership: as for releases, only those who were
// members of from_groups when a change was asked for may approve it, and
// an approval whose giver lost the power (disabled) stops counting.
func TestFlagApprovalsFollowMembership(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			db, clock := newStore(t, engine)
			testutil.MustApply(t, db, governedFlagYAML)
			testutil.MustUser(t, db, "olga", []shipgate.Role{shipgate.RoleDeployer})
			amy := testutil.MustUser(t, db, "amy", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
			ben := testutil.MustUser(t, db, "ben", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
			cy := testutil.MustUser(t, db, "cy", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
			late := testutil.MustUser(t, db, "late", []shipgate.Role{shipgate.RoleApprover})
			clock.Add(time.Second)
			c, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
				return tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "olga", Service: "web", Environment: "production", Key: "banner", Op: shipgate.FlagOpDisable, Reason: "quiet"})
			})
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(time.Second)
			testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.AddGroupMember(ctx, "admin", "release-managers", "late") })
			late.Groups = []string{"release-managers"}
			approve := func(u *shipgate.User) (*shipgate.FlagChange, error) {
				return flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) { return tx.ApproveFlagChange(ctx, c.ID, u, "") })
			}
			if _, err := approve(late); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "joined later") {
				t.Fatalf("late joiner: %v", err)
			}
			if _, err := approve(amy); err != nil {
				t.Fatal(err)
			}
			testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.DisableUser(ctx, "admin", "amy", "left"); return err })
			got, err := approve(ben)
			if err != nil || got.State != shipgate.FlagChangePending || !strings.Contains(got.Awaiting, "needs 1 more approval (of 2)") || !strings.Contains(got.Awaiting, ": cy may approve") {
				t.Fatalf("amy's approval must stop counting: %+v %v", got, err)
			}
			if got, err = approve(cy); err != nil || got.State != shipgate.FlagChangeApplied {
				t.Fatalf("cy: %+v %v", got, err)
			}
			// Pending changes of one flag are bounded.
			for i := 0; ; i++ {
				_, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
					return tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "olga", Service: "web", Environment: "production", Key: "banner", Op: shipgate.FlagOpEnable, Reason: "again"})
				})
				if err != nil {
					if i != sqlstore.MaxPendingFlagChanges || !strings.Contains(err.Error(), "waiting for approval already") {
						t.Fatalf("after %d pending changes: %v", i, err)
					}
					break
				}
			}
		})
	}
}

// TestFlagApprovalAfterRecreate: a change asked for at version 1 of a
// flag that a service file then removed and declared again (version 1
// anew, killed) is superseded when approved: the version alone matching
// must not let an old approval undo a kill.
func TestFlagApprovalAfterRecreate(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testFlagApprovalAfterRecreate(t, engine)
		})
	}
}

func testFlagApprovalAfterRecreate(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, governedFlagYAML)
	testutil.MustUser(t, db, "olga", []shipgate.Role{shipgate.RoleDeployer, shipgate.RoleApprover}, "release-managers")
	amy := testutil.MustUser(t, db, "amy", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	ben := testutil.MustUser(t, db, "ben", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	pending, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "olga", Service: "web", Environment: "production", Key: "banner",
			Op: shipgate.FlagOpRollout, Reason: "ramp", Mutate: func(f *shipgate.Flag) error {
				f.Rollout = &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "plain", Percent: 50}, {Variant: "fancy", Percent: 50}}}
				return nil
			}})
	})
	if err != nil || pending.State != shipgate.FlagChangePending || pending.BaseVersion != 1 {
		t.Fatalf("pending change: %+v, %v", pending, err)
	}
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.KillFlag(ctx, "olga", "web", "production", "banner", "incident 44")
	}); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(governedFlagYAML, "    - key: banner")
	j := strings.Index(governedFlagYAML, "  environments:")
	testutil.MustApply(t, db, governedFlagYAML[:i]+governedFlagYAML[j:])
	testutil.MustApply(t, db, governedFlagYAML)
	if p := findFlag(t, db, "web", "production", "banner"); p.Version != 1 || !p.Flag.Disabled {
		t.Fatalf("want banner recreated killed at version 1: %+v", p)
	}
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ApproveFlagChange(ctx, pending.ID, amy, "ok")
	}); err != nil {
		t.Fatal(err)
	}
	c, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ApproveFlagChange(ctx, pending.ID, ben, "ok")
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != shipgate.FlagChangeSuperseded {
		t.Errorf("the change asked for before the flag was recreated is %s, want superseded", c.State)
	}
	if p := findFlag(t, db, "web", "production", "banner"); !p.Flag.Disabled {
		t.Fatalf("an old approval undid the kill: %+v", p.Flag)
	}
	verify(t, db)
}

// TestFlagCreationApprovalAfterKill: a pending creation of a flag that,
// before its approval, a file declared, someone killed and a file removed
// again is superseded: the flag changed after the change was asked for,
// even though there is no flag now, as there was none then.
func TestFlagCreationApprovalAfterKill(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testFlagCreationApprovalAfterKill(t, engine)
		})
	}
}

func testFlagCreationApprovalAfterKill(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, governedFlagYAML)
	testutil.MustUser(t, db, "olga", []shipgate.Role{shipgate.RoleDeployer, shipgate.RoleApprover}, "release-managers")
	amy := testutil.MustUser(t, db, "amy", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	ben := testutil.MustUser(t, db, "ben", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	promo := shipgate.Flag{Key: "promo", Type: shipgate.FlagBoolean, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "on", SafeVariant: "off"}
	pending, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "olga", Service: "web", Environment: "production", Key: "promo",
			Op: shipgate.FlagOpSet, Reason: "launch", Mutate: func(f *shipgate.Flag) error { *f = promo; return nil }})
	})
	if err != nil || pending.State != shipgate.FlagChangePending {
		t.Fatalf("pending creation: %+v, %v", pending, err)
	}
	declared := strings.Replace(governedFlagYAML, "  environments:", `    - key: promo
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
  environments:`, 1)
	testutil.MustApply(t, db, declared)
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.KillFlag(ctx, "olga", "web", "production", "promo", "incident 45")
	}); err != nil {
		t.Fatal(err)
	}
	testutil.MustApply(t, db, governedFlagYAML)
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ApproveFlagChange(ctx, pending.ID, amy, "ok")
	}); err != nil {
		t.Fatal(err)
	}
	c, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ApproveFlagChange(ctx, pending.ID, ben, "ok")
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != shipgate.FlagChangeSuperseded {
		t.Errorf("the creation asked for before the flag was declared, killed and removed is %s, want superseded", c.State)
	}
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		if _, err := tx.FindFlag(ctx, "web", "production", "promo"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Errorf("an old approval brought the killed flag back: %v", err)
		}
		return nil
	})
	verify(t, db)
}

// TestKillFlagOfDroppedEnvironment: a flag people created in an
// environment that a later service file no longer has stays live (and
// served over OFREP), so the kill switch must still reach it.
func TestKillFlagOfDroppedEnvironment(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testKillFlagOfDroppedEnvironment(t, engine)
		})
	}
}

func testKillFlagOfDroppedEnvironment(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, governedFlagYAML)
	promo := shipgate.Flag{Key: "promo", Type: shipgate.FlagBoolean, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "on", SafeVariant: "off"}
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "olga", Service: "web", Environment: "staging", Key: "promo",
			Op: shipgate.FlagOpSet, Reason: "launch", Mutate: func(f *shipgate.Flag) error { *f = promo; return nil }})
	}); err != nil {
		t.Fatal(err)
	}
	testutil.MustApply(t, db, strings.Replace(governedFlagYAML, "    - name: staging\n      approvals: { required: 0 }\n", "", 1))
	if p := findFlag(t, db, "web", "staging", "promo"); p.Flag.Disabled {
		t.Fatalf("promo: %+v", p.Flag)
	}
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.KillFlag(ctx, "olga", "web", "staging", "promo", "incident 46")
	}); err != nil {
		t.Fatalf("the kill switch must reach every live flag: %v", err)
	}
	if p := findFlag(t, db, "web", "staging", "promo"); !p.Flag.Disabled {
		t.Fatalf("promo not killed: %+v", p.Flag)
	}
	// An unknown environment still says which ones there are.
	_, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.KillFlag(ctx, "olga", "web", "qa", "promo", "x")
	})
	if shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), "its environments are production") {
		t.Errorf("kill in an unknown environment: %v", err)
	}
	verify(t, db)
}

// TestFlagApprovalOfDroppedEnvironment: a change pending in an
// environment the service file has dropped since has no policy to be
// approved under; approving it must not apply it with none (anyone with
// the approver role, outside from_groups, no count), only rejecting it.
func TestFlagApprovalOfDroppedEnvironment(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testFlagApprovalOfDroppedEnvironment(t, engine)
		})
	}
}

func testFlagApprovalOfDroppedEnvironment(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, governedFlagYAML)
	zed := testutil.MustUser(t, db, "zed", []shipgate.Role{shipgate.RoleApprover})
	promo := shipgate.Flag{Key: "promo", Type: shipgate.FlagBoolean, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "on", SafeVariant: "off"}
	pending, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ChangeFlag(ctx, sqlstore.FlagChangeRequest{Actor: "olga", Service: "web", Environment: "production", Key: "promo",
			Op: shipgate.FlagOpSet, Reason: "launch", Mutate: func(f *shipgate.Flag) error { *f = promo; return nil }})
	})
	if err != nil || pending.State != shipgate.FlagChangePending {
		t.Fatalf("pending creation: %+v, %v", pending, err)
	}
	i := strings.Index(governedFlagYAML, "    - name: production")
	j := strings.Index(governedFlagYAML, "  pipeline:")
	testutil.MustApply(t, db, governedFlagYAML[:i]+governedFlagYAML[j:])
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.ApproveFlagChange(ctx, pending.ID, zed, "ok")
	}); err == nil {
		t.Error("a change of a dropped environment was approved")
	}
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		if _, err := tx.FindFlag(ctx, "web", "production", "promo"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Errorf("the change applied: %v", err)
		}
		return nil
	})
	if c, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.RejectFlagChange(ctx, pending.ID, zed, "the environment is gone")
	}); err != nil || c.State != shipgate.FlagChangeRejected {
		t.Errorf("reject: %+v, %v", c, err)
	}
}

package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const flagsYAML = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "off"
      safe_variant: "off"
    - key: banner
      type: string
      variants: { plain: "hi", fancy: "hello!" }
      default_variant: plain
      safe_variant: plain
  environments:
    - name: staging
      approvals: { required: 0 }
    - name: production
      approvals: { required: 0 }
      flags:
        - key: new-checkout
          type: boolean
          variants: { "on": true, "off": false }
          default_variant: "on"
          safe_variant: "off"
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`

// TestFlagSync: applying a service file creates its flags in every
// environment, a changed declaration replaces the live flag but never
// turns a disabled (killed) one back on, a dropped declaration removes
// the flag, and every change is recorded and audited.
func TestFlagSync(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testFlagSync(t, engine)
		})
	}
}

func testFlagSync(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, flagsYAML)
	var all []shipgate.FlagState
	var gen int64
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		var err error
		all, err = tx.ListFlags(ctx, "web", "")
		if err != nil {
			return err
		}
		_, gen, err = tx.EnvFlags(ctx, "production")
		return err
	})
	if len(all) != 4 {
		t.Fatalf("want 4 live flags (2 keys × 2 environments), got %d", len(all))
	}
	if gen == 0 {
		t.Fatal("generation did not move")
	}
	prod := findFlag(t, db, "web", "production", "new-checkout")
	if prod.Flag.DefaultVariant != "on" || !prod.Declared || prod.Version != 1 {
		t.Fatalf("production override not applied: %+v", prod)
	}
	// Reapplying the same file changes nothing.
	testutil.MustApply(t, db, flagsYAML)
	if p := findFlag(t, db, "web", "production", "new-checkout"); p.Version != 1 {
		t.Fatalf("reapplying the same file changed the flag: version %d", p.Version)
	}
	// Someone kills the flag (the raw writer stands in for the governed one).
	killed := prod.Flag
	killed.Disabled = true
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		return sqlstore.ApplyFlagChangeForTest(tx, &shipgate.FlagChange{Service: "web", Environment: "production", Key: "new-checkout",
			Op: shipgate.FlagOpKill, Reason: "incident 42", RequestedBy: "olga", Before: &prod.Flag, After: &killed, BaseVersion: prod.Version})
	})
	// A new file changes the declaration and drops banner.
	next := strings.Replace(flagsYAML, `          default_variant: "on"`, `          default_variant: "off"`, 1)
	i := strings.Index(next, "    - key: banner")
	j := strings.Index(next, "  environments:")
	next = next[:i] + next[j:]
	testutil.MustApply(t, db, next)
	p := findFlag(t, db, "web", "production", "new-checkout")
	if p.Flag.DefaultVariant != "off" || !p.Flag.Disabled || p.Version != 3 {
		t.Fatalf("the file's change must apply but keep the kill: %+v", p)
	}
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.FindFlag(ctx, "web", "staging", "banner")
		if shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Errorf("banner should be gone: %v", err)
		}
		cs, err := tx.ListFlagChanges(ctx, sqlstore.FlagChangeFilter{Service: "web", Environment: "production"})
		if err != nil {
			return err
		}
		var ops []string
		for _, c := range cs {
			ops = append(ops, string(c.Op)+"/"+string(c.State))
		}
		want := "remove/applied file/applied kill/applied file/applied file/applied"
		if got := strings.Join(ops, " "); got != want {
			t.Errorf("changes: got %q, want %q", got, want)
		}
		if cs[2].Reason != "incident 42" || cs[2].Before == nil || cs[2].After == nil || !cs[2].After.Disabled {
			t.Errorf("kill change not recorded with before/after: %+v", cs[2])
		}
		evs, err := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 1000, ActionPrefix: "flag."})
		if err != nil {
			return err
		}
		n := map[string]int{}
		for _, e := range evs {
			n[e.Action]++
		}
		if n[shipgate.ActionFlagChanged] != 7 || n[shipgate.ActionFlagKilled] != 1 {
			t.Errorf("audit: %v", n)
		}
		return nil
	})
	verify(t, db)
}

func findFlag(t *testing.T, db *sqlstore.DB, service, env, key string) shipgate.FlagState {
	t.Helper()
	var s *shipgate.FlagState
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		var err error
		s, err = tx.FindFlag(context.Background(), service, env, key)
		return err
	})
	return *s
}

// TestFlagSyncKeepsKillAcrossRemoval: a killed flag that a service file
// drops and a later file declares again comes back killed — two applies
// (say, a revert to the file before the flag, then forward again) never
// undo a kill, which only "flag enable", under flag_approvals, does. And
// a new declaration that changes the safe variant keeps the killed flag
// serving what it served.
func TestFlagSyncKeepsKillAcrossRemoval(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testFlagSyncKeepsKillAcrossRemoval(t, engine)
		})
	}
}

func testFlagSyncKeepsKillAcrossRemoval(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, flagsYAML)
	if _, err := flagUpdate(t, db, func(tx *sqlstore.Tx) (*shipgate.FlagChange, error) {
		return tx.KillFlag(ctx, "olga", "web", "staging", "new-checkout", "incident 43")
	}); err != nil {
		t.Fatal(err)
	}
	// A file without new-checkout (the production override too).
	without := flagsYAML
	i := strings.Index(without, "    - key: new-checkout")
	j := strings.Index(without, "    - key: banner")
	without = without[:i] + without[j:]
	i = strings.Index(without, "      flags:\n        - key: new-checkout")
	j = strings.Index(without, "  pipeline:")
	without = without[:i] + without[j:]
	testutil.MustApply(t, db, without)
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		if _, err := tx.FindFlag(ctx, "web", "staging", "new-checkout"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Errorf("the dropped flag should be gone: %v", err)
		}
		return nil
	})
	testutil.MustApply(t, db, flagsYAML)
	if p := findFlag(t, db, "web", "staging", "new-checkout"); !p.Flag.Disabled || p.Flag.Served() != "off" {
		t.Fatalf("a killed flag declared again after its removal must stay killed: %+v", p.Flag)
	}
	if p := findFlag(t, db, "web", "production", "new-checkout"); p.Flag.Disabled {
		t.Fatalf("production's flag was never killed: %+v", p.Flag)
	}
	// A new declaration making "on" the safe variant: still serves "off".
	swapped := strings.Replace(flagsYAML, "      default_variant: \"off\"\n      safe_variant: \"off\"", "      default_variant: \"off\"\n      safe_variant: \"on\"", 1)
	if swapped == flagsYAML {
		t.Fatal("test file not changed")
	}
	testutil.MustApply(t, db, swapped)
	if p := findFlag(t, db, "web", "staging", "new-checkout"); !p.Flag.Disabled || p.Flag.Served() != "off" || p.Flag.SafeVariant != "on" {
		t.Fatalf("a killed flag's new safe variant must not change what it serves: %+v", p.Flag)
	}
	verify(t, db)
}

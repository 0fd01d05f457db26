package sqlstore_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestMitigateRelease: the store's flip of a release's mitigations, on
// SQLite and PostgreSQL — the flag goes disabled serving the variant
// (the safe one when none is named) through the one writer of flag
// changes; one release.mitigated event on the release says what was done;
// the same run flips nothing twice; a flag already serving the variant,
// one without the variant and one that no longer exists are recorded as
// not flipped and fail nothing.
func TestMitigateRelease(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testMitigateRelease(t, engine)
		})
	}
}

func testMitigateRelease(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, flagsYAML)
	id := testutil.InsertRawRelease(t, db, "web", "production", func(c *shipgate.ReleaseContent) {
		c.Policy.Rollback.Mitigations = []shipgate.FlagMitigation{
			{Flag: "new-checkout", Variant: "on"}, {Flag: "banner"}, {Flag: "gone"}, {Flag: "new-checkout", Variant: "off"},
		}
	})
	var r *shipgate.Release
	mitigate := func(why string) []shipgate.FlagFlip {
		t.Helper()
		var out []shipgate.FlagFlip
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			var err error
			if r == nil {
				if r, err = tx.FindRelease(ctx, id); err != nil {
					return err
				}
				r.Run = 1
			}
			out, err = tx.MitigateRelease(ctx, r, why)
			return err
		})
		return out
	}
	got := mitigate("job health failed: 3 probes failed")
	if s := shipgate.DescribeFlips(got); s != "new-checkout → on; banner → plain; gone not flipped (the flag no longer exists in production)" {
		t.Fatalf("first flip: %s", s)
	}
	nc := findFlag(t, db, "web", "production", "new-checkout")
	if !nc.Flag.Disabled || nc.Flag.Serve != "on" || nc.Flag.Served() != "on" || nc.Version != 2 {
		t.Fatalf("new-checkout: %+v", nc)
	}
	if b := findFlag(t, db, "web", "production", "banner"); !b.Flag.Disabled || b.Flag.Serve != "" || b.Flag.Served() != "plain" {
		t.Fatalf("banner (safe variant): %+v", b)
	}
	if st := findFlag(t, db, "web", "staging", "new-checkout"); st.Flag.Disabled {
		t.Fatal("a mitigation of production flipped staging")
	}
	var changes []shipgate.FlagChange
	var evs []shipgate.AuditEvent
	view := func() {
		testutil.View(t, db, func(tx *sqlstore.Tx) error {
			var err error
			if changes, err = tx.ListFlagChanges(ctx, sqlstore.FlagChangeFilter{ReleaseID: id}); err != nil {
				return err
			}
			evs, err = tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: id})
			return err
		})
	}
	view()
	if len(changes) != 2 || len(evs) != 1 || evs[0].Action != shipgate.ActionReleaseMitigated || evs[0].Actor != shipgate.SystemActor {
		t.Fatalf("changes %+v, release events %+v", changes, evs)
	}
	for _, c := range changes {
		if c.Op != shipgate.FlagOpMitigation || c.ReleaseID != id || !strings.HasPrefix(c.Reason, "release ") || !strings.HasSuffix(c.Reason, "failed: job health failed: 3 probes failed") {
			t.Fatalf("change %+v", c)
		}
	}
	// The same run again (the job failing after its canary aborted): nothing.
	if again := mitigate("job rollout failed"); again != nil {
		t.Fatalf("the same run flipped again: %+v", again)
	}
	view()
	if len(changes) != 2 || len(evs) != 1 {
		t.Fatalf("the same run recorded more: %d changes, %d events", len(changes), len(evs))
	}
	// A rerun failing again: new-checkout still serves on; banner too.
	r.Run = 2
	got = mitigate("job health failed again")
	if s := shipgate.DescribeFlips(got); s != "new-checkout not flipped (it already served on to everyone); banner not flipped (it already served plain to everyone); gone not flipped (the flag no longer exists in production)" {
		t.Fatalf("rerun: %s", s)
	}
	// A variant the flag no longer has.
	r.Run = 3
	r.Policy.Rollback.Mitigations = []shipgate.FlagMitigation{{Flag: "banner", Variant: "neon"}}
	got = mitigate("again")
	if len(got) != 1 || got[0].Flipped || got[0].Note != `the flag has no variant "neon" any more` {
		t.Fatalf("missing variant: %+v", got)
	}
	// A long reason is cut to the bound of a flag change's, on a
	// character boundary.
	r.Run = 4
	r.Policy.Rollback.Mitigations = []shipgate.FlagMitigation{{Flag: "new-checkout", Variant: "off"}}
	if got = mitigate(strings.Repeat("é", 400)); len(got) != 1 || !got[0].Flipped {
		t.Fatalf("long reason: %+v", got)
	}
	view()
	if c := changes[0]; len(c.Reason) > shipgate.MaxFlagReasonLen || !utf8.ValidString(c.Reason) || !strings.HasSuffix(c.Reason, "é…") {
		t.Fatalf("reason of %d bytes: %q", len(c.Reason), c.Reason)
	}
	verify(t, db)
}

// TestReleaseFlagsChecked: a release's declared flags are checked in the
// store too, in the transaction that creates it, on both engines.
func TestReleaseFlagsChecked(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			db, _ := newStore(t, engine)
			testutil.MustApply(t, db, flagsYAML)
			nr := sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "1", Artifact: testutil.Artifact("1"), CreatedBy: "carol"}
			testutil.View(t, db, func(tx *sqlstore.Tx) error {
				nr.Flags = []string{"banner", "nope"}
				if _, _, err := tx.PrepareRelease(ctx, nr); shipgate.ErrorCode(err) != shipgate.EINVALID ||
					!strings.Contains(err.Error(), `service web has no flag "nope" in environment staging (it has banner, new-checkout)`) {
					t.Fatalf("unknown flag: %v", err)
				}
				nr.Flags = []string{"banner", "new-checkout"}
				r, details, err := tx.PrepareRelease(ctx, nr)
				if err != nil {
					return err
				}
				if len(r.Flags) != 2 || r.Digest != r.ReleaseContent.Digest() || details["flags"] == nil {
					t.Fatalf("release %+v, details %v", r.ReleaseContent, details)
				}
				return nil
			})
		})
	}
}

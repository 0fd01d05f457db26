package sqlstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestFlagsChanged: a waiter on FlagsChanged wakes when a transaction
// that changed a flag commits, not for one that changed none, and not for
// one rolled back.
func TestFlagsChanged(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			db := testutil.NewStore(t, engine)
			closed := func(ch <-chan struct{}) bool {
				select {
				case <-ch:
					return true
				default:
					return false
				}
			}
			ch := db.FlagsChanged()
			testutil.MustApply(t, db, flagsYAML)
			if !closed(ch) {
				t.Fatal("applying a file with flags did not wake the waiter")
			}
			ch = db.FlagsChanged()
			testutil.MustApply(t, db, flagsYAML) // the same declarations: nothing changes
			if closed(ch) {
				t.Fatal("reapplying the same file woke the waiter")
			}
			// A change rolled back wakes nobody.
			boom := errors.New("boom")
			src := strings.Replace(flagsYAML, `fancy: "hello!"`, `fancy: "hey!"`, 1)
			spec, err := config.ParseService("test.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(ctx, func(tx *sqlstore.Tx) error {
				if _, changed, err := tx.ApplyService(ctx, "test", spec, "test.yaml", src); err != nil || !changed {
					return fmt.Errorf("apply: changed %v, %w", changed, err)
				}
				return boom
			})
			if !errors.Is(err, boom) || closed(ch) {
				t.Fatalf("a rolled-back change: %v, woke %v", err, closed(ch))
			}
		})
	}
}

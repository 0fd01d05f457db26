package sqlstore_test

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// Servers sharing a PostgreSQL database take a write transaction's time
// from the database, not from their own clocks: a server whose clock is
// ten days slow still writes today's leases, expiries and audit times.
// SQLite has one server and takes its clock.
func TestWriteTimeFromDatabase(t *testing.T) {
	restore := sqlstore.SetWallClock(func() time.Time { return time.Now().Add(-240 * time.Hour) })
	defer restore()
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			db := testutil.NewStore(t, engine)
			db.Now = nil
			var got time.Time
			testutil.Update(t, db, func(tx *sqlstore.Tx) error { got = tx.Now(); return nil })
			skewed := time.Since(got) > 200*time.Hour
			if want := engine == "sqlite"; skewed != want {
				t.Fatalf("%s: a write transaction's time is %s (skewed: %v, want %v)", engine, got, skewed, want)
			}
		})
	}
}

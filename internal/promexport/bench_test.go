package promexport_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/promexport"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// BenchmarkScrape measures one scrape of the control plane's metrics
// (every gauge read from the store, every counter and histogram) over a
// SQLite store of 100,000 releases and 100,000 jobs: the store gauges are
// indexed aggregates, so a scrape stays cheap however long the history.
func BenchmarkScrape(b *testing.B) {
	releases := 100_000
	if testing.Short() {
		releases = 0
	}
	path := filepath.Join(b.TempDir(), "shipgate.db")
	db, err := sqlstore.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	testutil.MustApply(b, db, testutil.ServiceYAML)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	rel, _ := tx.Prepare(`INSERT INTO releases (service, environment, version, kind, artifact_sha256, content, digest, state, created_by, created_at, updated_at)
		VALUES ('web', 'staging', ?, 'deploy', 'x', '{}', ?, ?, 'carol', ?, ?)`)
	job, _ := tx.Prepare(`INSERT INTO jobs (release_id, run, name, position, state, max_attempts) VALUES (?, 1, 'deploy', 0, ?, 1)`)
	states := []string{"succeeded", "succeeded", "succeeded", "failed", "rolled_back", "cancelled", "rejected", "succeeded"}
	now := time.Now().UnixMicro()
	for i := range releases {
		res, err := rel.Exec(fmt.Sprint("1.", i), fmt.Sprint("d", i), states[i%len(states)], now, now)
		if err != nil {
			b.Fatal(err)
		}
		id, _ := res.LastInsertId()
		if _, err := job.Exec(id, "succeeded"); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	m := promexport.New(db, promexport.Options{LostAfter: time.Minute})
	reg := m.Registry()
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

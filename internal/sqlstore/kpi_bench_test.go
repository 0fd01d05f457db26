package sqlstore_test

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/kpi"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// BenchmarkGateKPIs100k measures GET /api/v1/metrics/gates's work over
// 100,000 releases in the window: KPIHistory reading them (their frozen
// content decoded for owner and checklist), their 200,000 jobs and their
// 200,000 release.queued/started audit events, then kpi.Compute. The
// releases are copies of one made through the reconciler, written with
// SQL so seeding takes seconds.
func BenchmarkGateKPIs100k(b *testing.B) {
	const n = 100_000
	for _, engine := range testutil.Engines {
		b.Run(engine, func(b *testing.B) {
			db := testutil.NewStore(b, engine)
			testutil.MustApply(b, db, testutil.ServiceYAML)
			seed, err := newRelease(db, "staging", "1.0", "carol")
			if err != nil {
				b.Fatal(err)
			}
			raw, err := sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[engine], sqlstore.DSNOf(db))
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			t0 := time.Now().Add(-time.Hour).UnixMicro()
			for _, q := range []string{
				fmt.Sprintf(`INSERT INTO releases (service, environment, version, kind, artifact_sha256, content, digest, state, run, created_by, created_at, updated_at, finished_at)
					WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)
					SELECT r.service, r.environment, r.version, r.kind, r.artifact_sha256, r.content, r.digest, 'succeeded', 1, r.created_by, %d + c.i * 1000, %d + c.i * 1000, %d + c.i * 1000 + 500
					FROM releases r, c WHERE r.id = %d`, n, t0, t0, t0, seed.ID),
				fmt.Sprintf(`INSERT INTO jobs (release_id, run, name, position, state, runs_on, attempt, max_attempts, queued_at, started_at, finished_at)
					SELECT id, 1, 'deploy', 0, CASE WHEN id %% 10 = 0 THEN 'failed' ELSE 'succeeded' END, '{}', 1, 1, created_at, created_at + 100, created_at + 200 FROM releases WHERE id > %d`, seed.ID),
				fmt.Sprintf(`INSERT INTO jobs (release_id, run, name, position, state, runs_on, attempt, max_attempts, queued_at, started_at, finished_at)
					SELECT id, 1, 'verify', 1, 'succeeded', '{}', 1, 1, created_at + 200, created_at + 300, created_at + 400 FROM releases WHERE id > %d`, seed.ID),
			} {
				if _, err := raw.Exec(q); err != nil {
					b.Fatal(err)
				}
			}
			for done := 0; done < n; done += 2000 {
				testutil.Update(b, db, func(tx *sqlstore.Tx) error {
					events := make([]shipgate.AuditEvent, 0, 4000)
					for i := done; i < done+2000; i++ {
						s := shipgate.ReleaseSubject(seed.ID + 1 + int64(i))
						events = append(events, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionReleaseQueued, s, nil),
							shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionReleaseStarted, s, map[string]any{"run": 1}))
					}
					return tx.Audit(ctx, events...)
				})
			}
			f := shipgate.KPIFilter{Since: time.UnixMicro(t0), Until: time.Now().Add(time.Hour)}
			b.ResetTimer()
			cpu := cpuTime() // this process's: on PostgreSQL the server's is not counted
			for b.Loop() {
				var k *shipgate.GateKPIs
				testutil.View(b, db, func(tx *sqlstore.Tx) error {
					h, err := tx.KPIHistory(ctx, f)
					if err != nil {
						return err
					}
					k = kpi.Compute(h, f)
					return nil
				})
				if k.Releases != n+1 || k.JobQueue.Count != 2*n { // and the seed, not started
					b.Fatalf("%d releases, %d job waits", k.Releases, k.JobQueue.Count)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

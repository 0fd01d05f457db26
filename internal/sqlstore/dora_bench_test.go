package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/dora"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// BenchmarkDORA measures the DORA metrics over 100,000 releases of 20
// services in two environments across 300 days, with their audit chain
// (eight events a release, as a two-job pipeline writes): loading the
// history from a real SQLite store and computing the report, and the
// computation alone. docs/benchmarks.md records the numbers.
func BenchmarkDORA(b *testing.B) {
	const n = 100_000
	db := testutil.NewStore(b, "sqlite")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := seedDORA(b, db, n, start)
	q := dora.Query{Since: until.Add(-300 * 24 * time.Hour), Until: until, MaxList: 1000}
	load := func(b *testing.B) dora.History {
		var h dora.History
		testutil.View(b, db, func(tx *sqlstore.Tx) error {
			var err error
			h, err = tx.DORAHistory(ctx, q.Since, q.Until, sqlstore.DORAFilter{})
			return err
		})
		return h
	}
	h := load(b)
	if len(h.Releases) != n {
		b.Fatalf("loaded %d releases, want %d", len(h.Releases), n)
	}
	if rep := dora.Compute(h, q); rep.Totals.Deployments < n*9/10 || rep.Totals.FailedDeployments == 0 || rep.Totals.Recovered == 0 {
		b.Fatalf("report %+v", rep.Totals)
	}
	b.Run("load+compute", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			dora.Compute(load(b), q)
		}
		reportCPU(b, cpu)
	})
	b.Run("compute", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			dora.Compute(h, q)
		}
		reportCPU(b, cpu)
	})
}

// cpuTime is the process's user and system CPU time so far: on a shared
// machine the wall time of ns/op includes waiting for a core, cpu-ns/op
// does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime()-since)/float64(b.N), "cpu-ns/op")
}

// seedDORA writes n releases (with the columns the store keeps for DORA)
// and their audit events straight into the database (the chain's hashes
// are not real: nothing verifies them here)
// and returns the end of the history. Every 50th release fails and is
// rolled back by the next, every 50th+25 fails before serving traffic,
// every 100th+10 is a hotfix of the one before, every 500th+5 is followed
// by a flag kill.
func seedDORA(b *testing.B, db *sqlstore.DB, n int, start time.Time) time.Time {
	b.Helper()
	const services = 20
	var content []byte
	for s := 0; s < services; s++ {
		testutil.MustApply(b, db, strings.Replace(rollbackSvc("health", 0), "name: web", fmt.Sprintf("name: svc%d", s), 1))
	}
	var svc *shipgate.Service
	testutil.View(b, db, func(tx *sqlstore.Tx) error {
		var err error
		svc, err = tx.FindService(ctx, "svc0")
		return err
	})
	env, _ := svc.Spec.Environment("production")
	raw := testutil.RawDB(b, db)
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	var seq int64
	if err := tx.QueryRow(`SELECT seq FROM audit_head WHERE id = 1`).Scan(&seq); err != nil {
		b.Fatal(err)
	}
	insRel, err := tx.Prepare(`INSERT INTO releases (id, service, environment, version, kind, artifact_sha256, content, digest, state, reason, run, created_by, created_at, updated_at, finished_at, succeeded_at, rollback_of, generation,
		committed_at, owner, hotfix_of, flags, queued_at, started_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'sha256:x', ?, '', 1, 'carol', ?, ?, ?, ?, ?, 1, ?, 'payments', ?, '["checkout"]', ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	insEv, err := tx.Prepare(`INSERT INTO audit_events (seq, at, actor, action, subject, release_id, details, prev_hash, hash) VALUES (?, ?, 'system', ?, ?, ?, ?, 'x', 'x')`)
	if err != nil {
		b.Fatal(err)
	}
	event := func(at time.Time, action string, id int64, details string) {
		seq++
		var rid any
		subject := "flag/x"
		if id != 0 {
			rid, subject = id, shipgate.ReleaseSubject(id)
		}
		if _, err := insEv.Exec(seq, at.UnixMicro(), action, subject, rid, details); err != nil {
			b.Fatal(err)
		}
	}
	step := 300 * 24 * time.Hour / time.Duration(n)
	for i := 1; i <= n; i++ {
		id := int64(i)
		service, envName := fmt.Sprintf("svc%d", i%services), []string{"production", "staging"}[i/services%2]
		created := start.Add(time.Duration(i) * step)
		done := created.Add(step / 2)
		committed := created.Add(-2 * time.Hour)
		c := shipgate.ReleaseContent{Service: service, ServiceRevision: 1, Environment: envName, Version: fmt.Sprintf("1.%d", i), Kind: shipgate.ReleaseKindDeploy,
			Artifact: testutil.Artifact("x"), Source: shipgate.Source{Commit: "abc", CommittedAt: &committed}, Inputs: map[string]string{"region": "eu"},
			Pipeline: svc.Spec.Pipeline, Policy: *env, CreatedBy: "carol", CreatedAt: created, Flags: []string{"checkout"}}
		state, failed := shipgate.StateSucceeded, i%50 == 0 || i%50 == 25
		var rollbackOf any
		switch {
		case i%50 == 1 && i > 1: // the rollback of the one before
			c.Kind, c.RollbackOf, c.TriggeredBy = shipgate.ReleaseKindRollback, id-1, shipgate.TriggeredByPolicy
			rollbackOf = id - 1
		case i%100 == 10:
			c.HotfixOf = id - 1
		}
		if failed {
			state = shipgate.StateFailed
		}
		if content, err = json.Marshal(c); err != nil {
			b.Fatal(err)
		}
		var succeeded any
		if !failed {
			succeeded = done.UnixMicro()
		}
		var hotfix any
		if c.HotfixOf != 0 {
			hotfix = c.HotfixOf
		}
		if _, err := insRel.Exec(id, service, envName, c.Version, c.Kind, c.Artifact.SHA256, string(content), string(state), created.UnixMicro(), done.UnixMicro(), done.UnixMicro(), succeeded, rollbackOf,
			committed.Format(time.RFC3339Nano), hotfix, created.UnixMicro(), created.UnixMicro()); err != nil {
			b.Fatal(err)
		}
		event(created, shipgate.ActionReleaseCreated, id, `{}`)
		event(created, shipgate.ActionReleaseQueued, id, `{}`)
		event(created, shipgate.ActionReleaseStarted, id, `{}`)
		for j := 0; j < 2; j++ {
			event(created, shipgate.ActionJobStarted, id, `{"job":"deploy"}`)
			event(done, shipgate.ActionJobFinished, id, `{"job":"deploy","state":"succeeded"}`)
		}
		if failed {
			event(done, shipgate.ActionReleaseFailed, id, `{}`)
			if i%50 == 0 {
				event(done, shipgate.ActionRollbackFired, id, `{"triggered_by":"policy"}`)
			}
		} else {
			event(done, shipgate.ActionReleaseSucceeded, id, `{}`)
		}
		if i%500 == 5 {
			event(done.Add(time.Second), shipgate.ActionFlagKilled, 0, fmt.Sprintf(`{"service":%q,"environment":%q,"key":"checkout","op":"kill"}`, service, envName))
		}
	}
	if _, err := tx.Exec(`UPDATE audit_head SET seq = ? WHERE id = 1`, seq); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return start.Add(time.Duration(n+1) * step)
}

package webui_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// The Metrics page's speed (issue 16: "the metrics page renders in ≤ 100
// ms server time"): BenchmarkMetricsPage renders /insights over a history
// of 100,000 releases, all inside the page's default 30-day window, as a
// viewer; results in docs/benchmarks.md "Metrics page (issue 16)".

const (
	metricsReleases = 100_000
	metricsServices = 10
	// Every failEvery-th production deployment is rolled back by policy.
	failEvery = 25
)

// metricsBenchService is one of the benchmark's services: staging and
// production, no approvals, owned by one of three teams.
func metricsBenchService(i int) string {
	return fmt.Sprintf(`apiVersion: shipgate/v1
kind: Service
metadata: {name: svc%d}
spec:
  owner: team-%c
  environments:
    - name: staging
      approvals: {required: 0}
    - name: production
      approvals: {required: 0}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`, i, 'a'+i%3)
}

// seedMetricsHistory stores n releases spread evenly over the last 30
// days: bulk-inserted rows (one transaction, one prepared statement: the
// benchmark measures the page, not the seeding), each succeeded ten
// minutes after it was created and committed one to seven hours before;
// every failEvery-th production deployment is followed by a policy
// rollback release, with its rollback.fired in the audit chain (appended
// through the store at the time it fired). It returns the number of
// failures.
func seedMetricsBenchHistory(t testing.TB, f *fixture, n int) int {
	t.Helper()
	svcs := make([]*shipgate.Service, metricsServices)
	for i := range svcs {
		testutil.MustApply(t, f.db, metricsBenchService(i))
		testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
			var err error
			svcs[i], err = tx.FindService(ctx, fmt.Sprintf("svc%d", i))
			return err
		})
	}
	raw := testutil.RawDB(t, f.db)
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO releases (service, environment, version, kind, artifact_sha256, content, digest, state, reason, run, created_by, created_at, updated_at, finished_at, succeeded_at, rollback_of, generation,
		committed_at, owner, queued_at, started_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'succeeded', '', 1, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	start := now.Add(-30*24*time.Hour + time.Hour)
	step := (30*24*time.Hour - 2*time.Hour) / time.Duration(n)
	art := testutil.Artifact("bench")
	type fired struct {
		release int64
		at      time.Time
	}
	var fires []fired
	insert := func(svc *shipgate.Service, env string, i int, created time.Time, rollbackOf int64) int64 {
		policy, _ := svc.Spec.Environment(env)
		committed := created.Add(-time.Duration(1+i%7) * time.Hour)
		c := shipgate.ReleaseContent{Service: svc.Name, ServiceRevision: svc.Revision, Environment: env, Version: fmt.Sprintf("1.%d", i),
			Kind: shipgate.ReleaseKindDeploy, Artifact: art, Inputs: map[string]string{}, SecretInputs: map[string]string{},
			Source:   shipgate.Source{Ref: "main", Commit: fmt.Sprintf("%040x", i), CommittedAt: &committed},
			Pipeline: svc.Spec.Pipeline, Policy: *policy, CreatedBy: "ci", CreatedAt: created, Owner: svc.Spec.Owner}
		var rb, commit any
		if rollbackOf != 0 {
			c.Kind, c.RollbackOf, c.TriggeredBy, c.Source.CommittedAt = shipgate.ReleaseKindRollback, rollbackOf, "policy", nil
			rb = rollbackOf
		} else {
			commit = committed.UTC().Format(time.RFC3339Nano)
		}
		content, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		done := created.Add(10 * time.Minute).UnixMicro()
		var id int64
		if err := stmt.QueryRow(c.Service, c.Environment, c.Version, c.Kind, art.SHA256, string(content), c.Digest(), c.CreatedBy,
			created.UnixMicro(), done, done, done, rb, commit, c.Owner, created.UnixMicro(), created.Add(time.Minute).UnixMicro()).Scan(&id); err != nil {
			t.Fatalf("insert release: %v", err)
		}
		return id
	}
	prod := 0
	for i := 0; i < n; i++ {
		svc, env := svcs[i%metricsServices], "staging"
		if i/metricsServices%2 == 0 {
			env = "production"
		}
		created := start.Add(time.Duration(i) * step)
		id := insert(svc, env, i, created, 0)
		if env != "production" {
			continue
		}
		if prod++; prod%failEvery == 0 && i+1 < n {
			i++
			at := created.Add(30 * time.Minute)
			fires = append(fires, fired{id, at})
			insert(svc, env, i, at, id)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// The rollbacks fire through the store's audit chain, each at its
	// time.
	clock := f.db.Now
	defer func() { f.db.Now = clock }()
	for _, fi := range fires {
		f.db.Now = func() time.Time { return fi.at }
		testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
			return tx.Audit(ctx, shipgate.AuditEvent{Actor: "system", Action: shipgate.ActionRollbackFired,
				Subject: fmt.Sprintf("release/%d", fi.release), Details: json.RawMessage(`{"triggered_by":"policy"}`)})
		})
	}
	return len(fires)
}

// BenchmarkMetricsPage renders the Metrics page over 100,000 releases:
// everything (the default 30 days), one service's production (filtered),
// and the failures' drill-down.
func BenchmarkMetricsPage(b *testing.B) {
	f := newFixture(b)
	seeded := time.Now()
	failures := seedMetricsBenchHistory(b, f, metricsReleases)
	b.Logf("seeded %d releases in %s", metricsReleases, time.Since(seeded).Round(time.Millisecond))
	ck := sessionCookie(b, f, "viewer")
	first := render(f, ck, "/insights")
	if first.Code != http.StatusOK || !strings.Contains(first.Body.String(), fmt.Sprintf("(%d of %d)", failures, metricsReleases)) {
		b.Fatalf("the page does not count %d failures of %d deployments (%d):\n%.3000s", failures, metricsReleases, first.Code, first.Body.String())
	}
	b.Run("all", func(b *testing.B) { benchPage(b, f, ck, "/insights") })
	b.Run("filtered", func(b *testing.B) { benchPage(b, f, ck, "/insights?service=svc3&environment=production") })
	b.Run("drill-down", func(b *testing.B) { benchPage(b, f, ck, "/insights?show=failures") })
}

// TestMetricsPageWeight: over a history with more releases behind each
// number than a page lists, the Metrics page and its longest drill-downs
// stay within the UI's weight limit and say how many more there are.
func TestMetricsPageWeight(t *testing.T) {
	f := newFixture(t)
	const n = 3000
	failures := seedMetricsBenchHistory(t, f, n)
	ck := sessionCookie(t, f, "viewer")
	assets := 0
	for _, p := range []string{"/static/app.css", "/static/app.js"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assets += len(body)
	}
	for path, want := range map[string]string{
		"/insights":                         fmt.Sprintf("(%d of %d)", failures, n),
		"/insights?show=deployments":        fmt.Sprintf("%d more not listed", n-100),
		"/insights?show=lead_time":          fmt.Sprintf("%d more not listed", n-100),
		"/insights?show=failures&window=7d": "rollback",
	} {
		rec := render(f, ck, path)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("GET %s: %d, want %q in:\n%.3000s", path, rec.Code, want, rec.Body.String())
		}
		if total := rec.Body.Len() + assets; total > maxPageBytes {
			t.Errorf("GET %s weighs %d bytes (HTML %d + assets %d), over %d", path, total, rec.Body.Len(), assets, maxPageBytes)
		} else {
			t.Logf("GET %s: HTML %d bytes + assets %d = %d (limit %d)", path, rec.Body.Len(), assets, total, maxPageBytes)
		}
	}
}

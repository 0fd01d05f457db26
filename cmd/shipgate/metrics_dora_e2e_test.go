package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
)

const doraService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  flags:
    - key: checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
  environments:
    - name: staging
    - name: production
      rollback: { enabled: true, check_target: pipeline, delay_seconds: 0 }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: |
              if [ "$SHIPGATE_INPUT_FAIL" = yes ]; then echo "boom" >&2; exit 7; fi
              echo "deployed $SHIPGATE_VERSION"
`

// doraRelease is what the test reads of `release show -o json`.
type doraRelease struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"`
	State       string     `json:"state"`
	RollbackOf  int64      `json:"rollback_of"`
	HotfixOf    int64      `json:"hotfix_of"`
	CreatedAt   time.Time  `json:"created_at"`
	SucceededAt *time.Time `json:"succeeded_at"`
	FinishedAt  *time.Time `json:"finished_at"`
}

// TestDORAScriptedHistory drives a known history through the built binary
// on both engines — commit times given with --committed-at, a failed
// attempt, a hotfix, a policy rollback, a flag kill, a manual rollback and
// a rollback of that rollback, across staging and production — and checks
// every DORA number against values worked out here from the definitions in
// docs/metrics.md. The server runs on the real clock: the counts are
// exact, and each duration is checked against the times the server
// recorded (release show), so nothing depends on how fast it ran.
func TestDORAScriptedHistory(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			var args []string
			if engine == "postgres" {
				args = []string{"--database", testutil.RequirePostgres(t).NewDatabase(t)}
			}
			testDORAScriptedHistory(t, startServerWith(t, args))
		})
	}
}

func testDORAScriptedHistory(t *testing.T, s *server) {
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(doraService), 0o644)
	os.WriteFile(filepath.Join(s.workDir, "shop.tar"), []byte("shop"), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")
	start := time.Now().UTC().Truncate(time.Second)
	commit := func(h int) string { return start.Add(-time.Duration(h) * time.Hour).Format(time.RFC3339) }
	show := func(id int64) doraRelease {
		var r doraRelease
		s.jsonOut(&r, "admin", "release", "show", fmt.Sprint(id))
		return r
	}
	deploy := func(env, version string, extra ...string) doraRelease {
		t.Helper()
		r := s.create("admin", append([]string{"shop", "--env", env, "--version", version, "--artifact", "shop.tar"}, extra...)...)
		s.run("admin", "release", "wait", fmt.Sprint(r.ID), "--timeout", "2m")
		return show(r.ID)
	}
	// rollbackOf waits for the rollback release of id to end.
	rollbackOf := func(id int64) doraRelease {
		t.Helper()
		var rb doraRelease
		testutil.WaitFor(t, fmt.Sprintf("a finished rollback of release %d", id), func() bool {
			var rels []doraRelease
			s.jsonOut(&rels, "admin", "release", "list", "--service", "shop")
			for _, r := range rels {
				if r.Kind == "rollback" && r.RollbackOf == id && r.FinishedAt != nil {
					rb = r
					return true
				}
			}
			return false
		})
		return rb
	}

	// Staging: a deployment, a failed attempt that a hotfix then says
	// degraded staging, the hotfix, and a failed attempt nobody fixed.
	s1 := deploy("staging", "1.0", "--commit", "a1", "--committed-at", commit(5))
	s2 := deploy("staging", "1.1", "--input", "FAIL=yes")
	// A hotfix must fix a release of its own environment; refused, nothing made.
	p1 := deploy("production", "1.0", "--commit", "a1", "--committed-at", commit(3))
	s.fails(fmt.Sprintf("release %d is of shop in production, not shop in staging", p1.ID), "admin", "release", "create", "shop", "--env", "staging", "--version", "1.2", "--artifact", "shop.tar", "--hotfix", "--fixes", fmt.Sprint(p1.ID))
	s.fails("without hotfix", "admin", "release", "create", "shop", "--env", "staging", "--version", "1.2", "--artifact", "shop.tar", "--fixes", fmt.Sprint(s2.ID))
	s3 := deploy("staging", "1.2", "--hotfix", "--fixes", fmt.Sprint(s2.ID), "--commit", "a2", "--committed-at", commit(4))
	if s3.HotfixOf != s2.ID || !strings.Contains(s.ok("admin", "release", "show", fmt.Sprint(s3.ID)), fmt.Sprintf("hotfix:    fixes release %d", s2.ID)) {
		t.Fatalf("hotfix %+v", s3)
	}
	s4 := deploy("staging", "1.3", "--input", "FAIL=yes")

	// Production: 1.0 above; 1.2 fails and its policy rolls it back; 1.4
	// introduces a flag that is then killed; 1.5 is rolled back by hand,
	// and that rollback is rolled back too.
	p2 := deploy("production", "1.2", "--input", "FAIL=yes")
	r1 := rollbackOf(p2.ID)
	p3 := deploy("production", "1.4", "--commit", "a4", "--committed-at", commit(2), "--flag", "checkout")
	s.ok("admin", "flag", "kill", "shop", "checkout", "--env", "production", "--reason", "INC-7 checkout errors")
	p4 := deploy("production", "1.5", "--commit", "a5", "--committed-at", commit(1))
	s.ok("admin", "rollback", "shop", "--env", "production", "--reason", "latency up")
	r2 := rollbackOf(p4.ID)
	s.ok("admin", "rollback", "shop", "--env", "production", "--reason", "the rollback made it worse")
	r3 := rollbackOf(r2.ID)
	for _, r := range []doraRelease{s1, s3, p1, r1, p3, p4, r2, r3} {
		if r.SucceededAt == nil {
			t.Fatalf("release %d did not succeed: %+v", r.ID, r)
		}
	}
	for _, r := range []doraRelease{s2, s4, p2} {
		if r.FinishedAt == nil || r.SucceededAt != nil {
			t.Fatalf("release %d did not fail: %+v", r.ID, r)
		}
	}

	// Worked out by hand from docs/metrics.md:
	// deployments: staging s1, s2 (a hotfix fixes it), s3; production p1,
	// p2 (rolled back), r1, p3, p4, r2, r3 — 10. s4 is a failed attempt.
	// failed: s2 (hotfix, release failed), p2 (release failed, rollback),
	// p3 (flag kill), p4 (rollback), r2 (rollback) — 5 of 10.
	// rework: s3 (hotfix), r1, r2, r3 (rollbacks) — 4 of 10.
	// lead time (commit → succeeded) of s1, s3, p1, p3, p4.
	secs := func(a time.Time, b *time.Time) float64 { return b.Sub(a).Seconds() }
	leads := []float64{
		secs(start.Add(-5*time.Hour), s1.SucceededAt), secs(start.Add(-4*time.Hour), s3.SucceededAt),
		secs(start.Add(-3*time.Hour), p1.SucceededAt), secs(start.Add(-2*time.Hour), p3.SucceededAt), secs(start.Add(-time.Hour), p4.SucceededAt),
	}
	// recovery: s2 failed → s3 succeeded; p2 failed → r1 succeeded; p3's
	// kill is its own recovery; p4's rollback asked (r2 created) → r2
	// succeeded; r2's rollback asked (r3 created) → r3 succeeded.
	recoveries := []float64{secs(*s2.FinishedAt, s3.SucceededAt), secs(*p2.FinishedAt, r1.SucceededAt), 0, secs(r2.CreatedAt, r2.SucceededAt), secs(r3.CreatedAt, r3.SucceededAt)}

	var rep shipgate.DORAReport
	s.jsonOut(&rep, "admin", "metrics", "dora")
	m := rep.Totals
	if m.Deployments != 10 || m.FailedDeployments != 5 || m.Rework != 4 || m.FailedAttempts != 1 || m.Failures != 5 || m.Recovered != 5 || m.Unrecovered != 0 {
		t.Fatalf("counts: %+v", m)
	}
	if *m.ChangeFailRate != 0.5 || *m.ReworkRate != 0.4 || !near(m.DeploymentsPerWeek, 10.0/30*7) {
		t.Fatalf("rates: cfr %v rework %v per week %v", *m.ChangeFailRate, *m.ReworkRate, m.DeploymentsPerWeek)
	}
	lt := m.LeadTime.CommitToSucceeded
	if lt.N != 5 || m.LeadTime.WithoutCommitTime != 0 || !near(*lt.P50, rank(leads, 0.5)) || !near(*lt.P90, rank(leads, 0.9)) {
		t.Fatalf("lead time %+v (p50 %v p90 %v), want p50 %v p90 %v of %v", lt, *lt.P50, *lt.P90, rank(leads, 0.5), rank(leads, 0.9), leads)
	}
	rt := m.RecoveryTime
	if rt.N != 5 || !near(*rt.P50, rank(recoveries, 0.5)) || !near(*rt.P90, rank(recoveries, 0.9)) {
		t.Fatalf("recovery %+v (p50 %v p90 %v), want of %v", rt, *rt.P50, *rt.P90, recoveries)
	}
	if len(rep.Breakdown) != 2 || rep.Breakdown[0].Environment != "production" || rep.Breakdown[1].Environment != "staging" {
		t.Fatalf("breakdown %+v", rep.Breakdown)
	}
	prod, stg := rep.Breakdown[0].Metrics, rep.Breakdown[1].Metrics
	if prod.Deployments != 7 || prod.FailedDeployments != 4 || prod.Rework != 3 || prod.FailedAttempts != 0 ||
		stg.Deployments != 3 || stg.FailedDeployments != 1 || stg.Rework != 1 || stg.FailedAttempts != 1 {
		t.Fatalf("per environment: production %+v, staging %+v", prod, stg)
	}
	want := map[int64]struct {
		causes string
		by     string
		with   int64
	}{
		s2.ID: {"hotfix release_failed", "fix_forward", s3.ID},
		p2.ID: {"release_failed rollback", "rollback", r1.ID},
		p3.ID: {"flag_kill", "flag_kill", 0},
		p4.ID: {"rollback", "rollback", r2.ID},
		r2.ID: {"rollback", "rollback", r3.ID},
	}
	if len(rep.Failures) != len(want) {
		t.Fatalf("failures %+v", rep.Failures)
	}
	for _, f := range rep.Failures {
		w, ok := want[f.Release]
		if !ok || strings.Join(f.Causes, " ") != w.causes || f.RecoveredBy != w.by || f.RecoveredWith != w.with {
			t.Fatalf("failure of release %d: %+v, want %+v", f.Release, f, w)
		}
	}
	if !slices.Equal(rep.FailedAttempts, []int64{s4.ID}) || len(rep.Deployments) != 10 {
		t.Fatalf("drill-down: attempts %v, %d deployments", rep.FailedAttempts, len(rep.Deployments))
	}

	// Filters.
	var only shipgate.DORAReport
	s.jsonOut(&only, "admin", "metrics", "dora", "--env", "staging", "--service", "shop", "--bucket", "day", "--since", "2d")
	if only.Totals.Deployments != 3 || *only.Totals.ChangeFailRate != 1.0/3 || len(only.Trend) != 2 || len(only.Breakdown) != 1 {
		t.Fatalf("staging only: %+v, %d buckets", only.Totals, len(only.Trend))
	}

	// What a person reads.
	out := s.ok("admin", "metrics", "dora")
	for _, line := range []string{
		"deployment frequency   10 deployments",
		"1 failed attempt (not deployments)",
		"change fail rate       50% (5 of 10)",
		"rework rate            40% (4 of 10) (rollbacks and hotfixes)",
		"5 recovered",
		fmt.Sprintf("release %d  shop → production 1.2: release failed, rollback; detected", p2.ID),
		fmt.Sprintf("recovered by rollback (release %d) in", r1.ID),
		fmt.Sprintf("release %d  shop → production 1.4: flag kill; detected", p3.ID),
		fmt.Sprintf("Failed attempts (failed before serving traffic; not deployments): releases %d", s4.ID),
	} {
		if !strings.Contains(out, line) {
			t.Fatalf("metrics dora does not say %q:\n%s", line, out)
		}
	}
	if i, j := strings.Index(out, "  shop     production"), strings.Index(out, "  shop     staging"); i < 0 || j < i {
		t.Fatalf("production is not listed before staging:\n%s", out)
	}
	// A window with nothing in it reads n/a; a misspelt filter is refused,
	// as metrics gates refuses it, rather than reading as "no deployments".
	if out := s.ok("admin", "metrics", "dora", "--until", start.Add(-24*time.Hour).Format(time.RFC3339)); !strings.Contains(out, "n/a — no deployments") {
		t.Fatalf("no deployments:\n%s", out)
	}
	// Trend buckets start at --since, not at midnight: a day bucket from
	// 18:50 yesterday holds today's deployments and must not read as
	// yesterday's date alone.
	until := start.Add(time.Hour).Truncate(time.Minute)
	if until.Hour() == 0 && until.Minute() == 0 {
		until = until.Add(time.Minute)
	}
	out = s.ok("admin", "metrics", "dora", "--since", "2d", "--until", until.Format(time.RFC3339), "--bucket", "day")
	if want := "\n  " + until.Add(-24*time.Hour).Format("2006-01-02 15:04Z") + "  "; !strings.Contains(out, want) {
		t.Fatalf("the last day bucket is not labelled with its start %q:\n%s", want, out)
	}
	s.fails(`environment "prod" is not declared`, "admin", "metrics", "dora", "--env", "prod")
	s.fails(`service "shpo" does not exist`, "admin", "metrics", "dora", "--service", "shpo")
	s.fails(`team "nobody" owns no service`, "admin", "metrics", "dora", "--team", "nobody")
	s.fails("neither an RFC 3339 time nor a period", "admin", "metrics", "dora", "--since", "yesterday")
	s.fails("not day or week", "admin", "metrics", "dora", "--bucket", "month")
}

// rank is the nearest-rank percentile docs/metrics.md defines.
func rank(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[int(math.Ceil(p*float64(len(s))))-1]
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil/promtest"
)

// canaryErrorRatio is the current canary's share of 5xx answers over the
// last 10 s, from the agent's router metrics (whose service label is
// service/environment/job): ten samples at a 1 s scrape,
// so one late scrape doesn't empty it. Both counters come from the same
// scrape, so rate()'s extrapolation cancels out in the ratio. The `and`
// keeps only series the router exports right now: a previous canary's
// series (2.0's, promoted seconds before 3.0 starts) stays in a range
// vector for the whole window after it went stale, and would otherwise be
// result[0] — a healthy value judging the broken canary.
const canaryErrorRatio = `rate(shipgate_router_errors_total{service="shop/production/rollout",role="canary"}[10s])` +
	` / rate(shipgate_router_requests_total{service="shop/production/rollout",role="canary"}[10s])` +
	` and shipgate_router_requests_total{service="shop/production/rollout",role="canary"}`

// promCanaryService is the demo app moved by a canary whose only judge is
// a blocking threshold analysis at 50%: the canary's error ratio as a
// Prometheus at promAddress measures it. No sequential judge runs, so only
// the metric can abort. metric holds the metric's own settings (interval,
// count, limits, conditions), indented for the metric's mapping.
func promCanaryService(bin, listen, promAddress, metric string) string {
	// metric is indented for the metric's mapping inside the job; the
	// strategy is written from column 0, 10 spaces left of that.
	var m []string
	for _, line := range strings.Split(strings.TrimRight(metric, "\n"), "\n") {
		m = append(m, strings.TrimPrefix(line, "          "))
	}
	return demo.AppService("shop", bin, listen, "{ role: web }", "5m", fmt.Sprintf(`canary:
  steps:
    - set_weight: 50
    - analysis:
        metrics:
          - name: canary-error-rate
            provider:
              prometheus:
                address: %s
                query: %q
%s
    - pause: 1s`, promAddress, canaryErrorRatio, strings.Join(m, "\n")))
}

// newPromCanaryFixture is a server without a built-in runner, one real
// agent (role=web) serving its router metrics on metricsAddr, and the shop
// service of promCanaryService applied.
func newPromCanaryFixture(t *testing.T, metricsAddr string, service func(front string) string) *canaryFixture {
	t.Helper()
	s := startServerWith(t, []string{"--no-local-runner"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "web-hosts"))
	s.startAgent("web-1", "role=web", join, "--stop-services-on-exit", "--shutdown-grace", "5s", "--metrics-listen", metricsAddr)
	front := freeAddr(t)
	f := filepath.Join(s.workDir, "shop.yaml")
	if err := os.WriteFile(f, []byte(service(front)), 0o644); err != nil {
		t.Fatal(err)
	}
	s.ok("admin", "apply", "-f", f)
	for v, conf := range map[string]string{"1.0": "version=1.0\n", "2.0": "version=2.0\n", "3.0": "version=3.0\nerror_rate=0.5\n"} {
		if err := os.WriteFile(filepath.Join(s.workDir, "shop-"+v+".conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &canaryFixture{s: s, front: "http://" + front + "/"}
}

// decisionJSON is one analysis decision as `release show -o json` gives it.
type decisionJSON struct {
	Judge, Metric, Phase, Summary string
	Evidence                      map[string]any
}

// decisions returns the analysis decisions of the release's last rollout.
func (f *canaryFixture) decisions(id int64) []decisionJSON {
	var r struct {
		Rollouts []struct {
			Status struct {
				Decisions []decisionJSON `json:"decisions"`
			} `json:"status"`
		} `json:"rollouts"`
	}
	f.s.jsonOut(&r, "admin", "release", "show", fmt.Sprint(id))
	if len(r.Rollouts) == 0 {
		return nil
	}
	return r.Rollouts[len(r.Rollouts)-1].Status.Decisions
}

// waitFinal waits, for at most a minute, until the release is in one of
// the states, and returns it. (A failed release whose rollback policy fires
// is failed only until its rollback release succeeds: then rolled_back.)
func (f *canaryFixture) waitFinal(t *testing.T, id int64, states ...string) rolloutJSON {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got := f.s.rollout(id)
		if slices.Contains(states, got.State) {
			return got
		}
		if time.Now().After(deadline) {
			phase, step := got.phase()
			t.Fatalf("release %d is %s, not %s, after a minute; rollout %s at step %d; decisions %+v",
				id, got.State, strings.Join(states, " or "), phase, step, f.decisions(id))
		}
		<-tick.C
	}
}

// frontAnswers checks that the front serves version to every one of a few
// requests.
func (f *canaryFixture) frontAnswers(t *testing.T, version, when string) {
	t.Helper()
	for range 20 {
		if b := get(t, f.front, ""); b != "hello from demo-app "+version+"\n" {
			t.Fatalf("%s the front answers %q, want %s", when, b, version)
		}
	}
}

// TestCanaryPrometheusAnalysis runs canaries whose blocking analysis asks
// a real Prometheus, scraping the real agent's router metrics, for the
// canary's error ratio: a healthy 2.0 passes every measurement and is
// promoted; a broken 3.0 (half its answers are 500s) fails the metric, is
// aborted — traffic back on 2.0 — and rolled back by policy.
func TestCanaryPrometheusAnalysis(t *testing.T) {
	began := time.Now()
	metrics := freeAddr(t)
	f := newPromCanaryFixture(t, metrics, func(front string) string {
		// The agent serves its metrics by now: Prometheus returns once it
		// has scraped them.
		prom := promtest.Start(t, []string{metrics})
		return promCanaryService(binary, front, "http://"+prom, `                      initial_delay: 3s
                      interval: 2s
                      count: 4
                      success_condition: "result[0] < 0.1"
                      failure_condition: "result[0] >= 0.1"`)
	})
	s := f.s
	t.Logf("server, agent and prometheus ready after %s", time.Since(began).Round(time.Millisecond))

	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	f.frontAnswers(t, "1.0", "after the first release")
	l := demo.StartLoad(f.front, 4, 10*time.Millisecond)
	defer l.End()

	t.Run("healthy canary passes the metric and is promoted", func(t *testing.T) {
		v2 := f.release("2.0")
		got := f.waitFinal(t, v2, "succeeded", "rolled_back")
		if got.State != "succeeded" {
			t.Fatalf("2.0 ended %s: %+v", got.State, f.decisions(v2))
		}
		if p, _ := got.phase(); p != "promoted" {
			t.Fatalf("2.0's rollout ended %s", p)
		}
		f.frontAnswers(t, "2.0", "after the promotion")
		var passed bool
		for _, d := range f.decisions(v2) {
			if d.Judge != "threshold" || d.Metric != "canary-error-rate" {
				t.Errorf("unexpected decision %+v", d)
				continue
			}
			if d.Phase == "successful" {
				passed = true
				// Every conclusive measurement was a value from Prometheus
				// below the threshold: an empty answer is an error, never
				// a success.
				vals, _ := d.Evidence["last_values"].([]any)
				if d.Evidence["successful"] != 4.0 || d.Evidence["failed"] != 0.0 || len(vals) != 1 || vals[0].(float64) >= 0.1 {
					t.Errorf("successful decision's evidence: %+v", d)
				}
				t.Logf("2.0: %s", d.Summary)
			}
		}
		if !passed {
			t.Fatalf("no successful threshold decision: %+v", f.decisions(v2))
		}
	})

	t.Run("broken canary fails the metric and is rolled back", func(t *testing.T) {
		v3 := f.release("3.0")
		got := f.waitFinal(t, v3, "succeeded", "rolled_back")
		if got.State != "rolled_back" {
			t.Fatalf("3.0 ended %s: %+v", got.State, f.decisions(v3))
		}
		if p, _ := got.phase(); p != "aborted" {
			t.Fatalf("3.0's rollout ended %s", p)
		}
		var failed bool
		for _, d := range f.decisions(v3) {
			if d.Judge == "threshold" && d.Metric == "canary-error-rate" && d.Phase == "failed" {
				failed = true
				// Not one measurement passed: the query sees only the
				// current canary, never 2.0's series from its own canary
				// seconds ago, which a 10 s window still holds.
				vals, _ := d.Evidence["last_values"].([]any)
				if len(vals) != 1 || vals[0].(float64) < 0.1 || d.Evidence["failed"] != 1.0 || d.Evidence["successful"] != 0.0 ||
					!strings.Contains(d.Summary, `metric "canary-error-rate" failed`) || !strings.Contains(d.Summary, "result[0] >= 0.1") {
					t.Errorf("failed decision: %+v", d)
				}
				t.Logf("3.0: %s", d.Summary)
			}
		}
		if !failed {
			t.Fatalf("no failed threshold decision: %+v", f.decisions(v3))
		}
		if got.Rollback == nil || got.Rollback.RollbackRelease == 0 {
			t.Fatalf("no rollback release: %+v", got.Rollback)
		}
		if rb := f.waitFinal(t, got.Rollback.RollbackRelease, "succeeded", "failed", "cancelled"); rb.State != "succeeded" {
			t.Fatalf("rollback release ended %s", rb.State)
		}
		f.frontAnswers(t, "2.0", "after the rollback")
		show := s.ok("admin", "release", "show", fmt.Sprint(v3))
		if !strings.Contains(show, "aborted") || !strings.Contains(show, "canary-error-rate") {
			t.Errorf("release show does not explain the abort:\n%s", show)
		}
	})
	// What the real agent serves after all that traffic — two canaries,
	// errors, a rollback — passes the Prometheus project's own linter.
	t.Run("the agent's metrics pass promtool", func(t *testing.T) {
		promtest.CheckMetrics(t, []byte(get(t, "http://"+metrics+"/metrics", "")))
	})
	t.Logf("took %s", time.Since(began).Round(time.Millisecond))
}

// TestCanaryPrometheusUnreachable checks that a Prometheus nobody answers
// at aborts the canary with an error decision: no measurement is ever a
// success, so the canary is never promoted.
func TestCanaryPrometheusUnreachable(t *testing.T) {
	closed := freeAddr(t) // nothing listens there once freeAddr returns
	f := newPromCanaryFixture(t, freeAddr(t), func(front string) string {
		return promCanaryService(binary, front, "http://"+closed, `                      interval: 1s
                      count: 4
                      consecutive_error_limit: 1
                      success_condition: "result[0] < 0.1"
                      failure_condition: "result[0] >= 0.1"`)
	})
	s := f.s
	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	l := demo.StartLoad(f.front, 2, 10*time.Millisecond)
	defer l.End()

	v2 := f.release("2.0")
	got := f.waitFinal(t, v2, "succeeded", "rolled_back")
	if got.State == "succeeded" {
		t.Fatalf("2.0 was promoted with an unreachable Prometheus: %+v", f.decisions(v2))
	}
	if p, _ := got.phase(); p != "aborted" {
		t.Fatalf("2.0's rollout ended %s", p)
	}
	var errored bool
	for _, d := range f.decisions(v2) {
		if d.Phase == "successful" {
			t.Errorf("a decision passed: %+v", d)
		}
		if d.Judge == "threshold" && d.Metric == "canary-error-rate" && d.Phase == "error" {
			errored = true
			if d.Evidence["errors"] != 2.0 || d.Evidence["successful"] != 0.0 || !strings.Contains(d.Summary, "is unreachable") {
				t.Errorf("error decision: %+v", d)
			}
		}
	}
	if !errored {
		t.Fatalf("no error decision: %+v", f.decisions(v2))
	}
	f.frontAnswers(t, "1.0", "after the abort")
}

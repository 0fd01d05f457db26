package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

// kpiAPIService's deploy fails on its first try when given a marker path
// (input once) and every time with input fail=yes; health checks after it.
const kpiAPIService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: api
spec:
  environments:
    - name: staging
      approvals: { required: 0 }
  pipeline:
    jobs:
      - name: deploy
        runs_on: { role: web }
        steps:
          - run: |
              if [ -n "$SHIPGATE_INPUT_ONCE" ] && [ ! -f "$SHIPGATE_INPUT_ONCE" ]; then touch "$SHIPGATE_INPUT_ONCE"; echo "first try fails" >&2; exit 1; fi
              if [ "$SHIPGATE_INPUT_FAIL" = yes ]; then echo "broken build" >&2; exit 7; fi
      - name: health
        needs: [deploy]
        runs_on: { role: web }
        steps:
          - run: echo healthy
`

// TestMetricsGates drives gates through the built binary and a real
// agent — a deploy that fails and passes on a rerun of the same release
// (flaky), one that fails for good, a healthy check, a canary of a broken
// version aborted by the sequential judge and rolled back by policy — and
// checks `shipgate metrics gates` against figures computed by hand from
// what happened.
func TestMetricsGates(t *testing.T) {
	front := freeAddr(t)
	f := newCanaryFixtureWith(t, front, demo.AppService("shop", binary, front, "{ role: web }", "5m", `canary:
  steps:
    - set_weight: 50
    - analysis:
        sequential: { duration: 30s }`))
	s := f.s
	api := filepath.Join(s.workDir, "api.yaml")
	os.WriteFile(api, []byte(kpiAPIService), 0o644)
	s.ok("admin", "apply", "-f", api)
	os.WriteFile(filepath.Join(s.workDir, "api.tar"), []byte("api"), 0o644)

	// api: release a fails once and passes on its rerun; b fails for good.
	a := s.create("admin", "api", "--env", "staging", "--version", "1.0", "--artifact", "api.tar", "--input", "once="+filepath.Join(s.workDir, "marker")).ID
	s.run("admin", "release", "wait", fmt.Sprint(a))
	if st := s.show(a).State; st != "failed" {
		t.Fatalf("release %d is %s, want failed on its first try", a, st)
	}
	s.ok("admin", "rerun", fmt.Sprint(a))
	s.ok("admin", "release", "wait", fmt.Sprint(a))
	b := s.create("admin", "api", "--env", "staging", "--version", "2.0", "--artifact", "api.tar", "--input", "fail=yes").ID
	s.run("admin", "release", "wait", fmt.Sprint(b))
	if st := s.show(b).State; st != "failed" {
		t.Fatalf("release %d is %s, want failed", b, st)
	}

	var k shipgate.GateKPIs
	s.jsonOut(&k, "admin", "metrics", "gates", "--service", "api", "--env", "staging", "--since", "1h")
	want := []shipgate.GateFigure{
		// deploy: a's run 1 failed, its run 2 passed (so its failure was
		// flaky), b failed: 1 passed, 2 failed, 1 flaky = 50%.
		{Kind: "job", Name: "deploy", Passed: 1, Failed: 2, Flaky: 1, FlakinessRate: 0.5, FailedReleases: []int64{a, b}, FlakyReleases: []int64{a}},
		{Kind: "job", Name: "health", Passed: 1, FailedReleases: []int64{}, FlakyReleases: []int64{}},
	}
	if k.Releases != 2 || !slices.Equal(k.ReleaseIDs, []int64{a, b}) || fmt.Sprint(k.Gates) != fmt.Sprint(want) {
		t.Fatalf("api KPIs: releases %v gates\n got %+v\nwant %+v", k.ReleaseIDs, k.Gates, want)
	}
	// queued → started: a twice (first run, rerun), b once; deploy ×3, health ×1
	if k.ReleaseQueue.Count != 3 || k.JobQueue.Count != 4 || k.Canaries.Count != 0 || k.Rework.Rate != 0 {
		t.Errorf("api queue, canaries, rework: %+v %+v %+v %+v", k.ReleaseQueue, k.JobQueue, k.Canaries, k.Rework)
	}
	text := s.ok("admin", "metrics", "gates", "--service", "api", "--since", "1h")
	for _, re := range []string{
		`2 releases created .* \(service api\)`,
		fmt.Sprintf(`job deploy +1 +2 +1 +50%% +%d, %d\n`, a, b),
		`job health +1 +0 +0 +0% +-\n`,
		`Canaries: 0 \(0 completed, 0 aborted: abort rate 0%\)`,
		`Rework: 0 rollbacks and 0 hotfixes of 2 releases \(0%\)`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("metrics gates text lacks %q:\n%s", re, text)
		}
	}

	// shop: 1.0 takes all traffic; 3.0 (half its answers are 500s) is
	// aborted by the judge at 50% and rolled back by policy.
	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	l := demo.StartLoad(f.front, 4, 10*time.Millisecond)
	defer l.End()
	v3 := f.release("3.0")
	testutil.WaitFor(t, "3.0 to be rolled back", func() bool { return s.show(v3).State == "rolled_back" })
	rb := s.rollout(v3).Rollback.RollbackRelease
	testutil.WaitFor(t, "the rollback release to end", func() bool { st := s.show(rb).State; return st == "succeeded" || st == "failed" })
	l.End()

	// By hand, from each release's own events: a rollout starts at its
	// first rollout event and ends at rollout.completed or .aborted.
	var canaries, completed int
	var total time.Duration
	var withCanary []int64
	for _, id := range []int64{v1, v3, rb} {
		var r struct {
			Timeline []shipgate.AuditEvent `json:"timeline"`
		}
		s.jsonOut(&r, "admin", "release", "show", fmt.Sprint(id))
		var started time.Time
		for _, e := range r.Timeline {
			if e.Subject != shipgate.ReleaseSubject(id) || !strings.HasPrefix(e.Action, "rollout.") {
				continue
			}
			if started.IsZero() {
				started = e.At
				canaries++
				withCanary = append(withCanary, id)
			}
			if e.Action == shipgate.ActionRolloutDone || e.Action == shipgate.ActionRolloutAborted {
				total += e.At.Sub(started)
				if e.Action == shipgate.ActionRolloutDone {
					completed++
				}
			}
		}
	}
	s.jsonOut(&k, "admin", "metrics", "gates", "--service", "shop", "--env", "production")
	c := k.Canaries
	mean := (total / time.Duration(completed+1)).Round(time.Millisecond).Seconds()
	if c.Count != canaries || c.Aborted != 1 || c.Completed != completed || !slices.Equal(c.AbortedReleases, []int64{v3}) ||
		!slices.Equal(c.Releases, withCanary) || c.AbortRate != float64(int(10000/float64(canaries)+0.5))/10000 || c.Duration.Mean != mean {
		t.Errorf("canaries %+v; by hand %d rollouts (%v), %d completed, mean %.3fs", c, canaries, withCanary, completed, mean)
	}
	if len(c.AbortReasons) != 1 || c.AbortReasons[0].Cause != "metric errors+latency" || !slices.Equal(c.AbortReasons[0].Releases, []int64{v3}) {
		t.Errorf("abort reasons %+v", c.AbortReasons)
	}
	var judged bool
	for _, j := range k.Judge {
		if j.Judge == "sequential" && j.Verdict == "failed" && slices.Equal(j.Releases, []int64{v3}) {
			judged = true
		}
	}
	var analysis *shipgate.GateFigure
	for i := range k.Gates {
		if k.Gates[i].Kind == shipgate.GateKindAnalysis {
			analysis = &k.Gates[i]
		}
	}
	if !judged || analysis == nil || analysis.Failed != 1 || !slices.Equal(analysis.FailedReleases, []int64{v3}) {
		t.Errorf("judge %+v, analysis gate %+v", k.Judge, analysis)
	}
	if w := k.Rework; k.Releases != 3 || w.Rollbacks != 1 || !slices.Equal(w.RollbackReleases, []int64{rb}) || w.Rate != 0.3333 {
		t.Errorf("rework %+v of %d releases", w, k.Releases)
	}

	// Bad filters: a clear error on stderr, a non-zero exit.
	s.fails(`since "0d" is not a window`, "admin", "metrics", "gates", "--since", "0d")
	s.fails("nope", "admin", "metrics", "gates", "--service", "nope")
	s.fails(`environment "prod" is not declared`, "admin", "metrics", "gates", "--env", "prod")
}

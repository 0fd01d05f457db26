package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestCanaryHiccupIsNotAborted runs canaries of the demo app through a
// real agent and router, each judged by the background judge and a step
// analysis sharing the rollout's alpha, with a warm-up: a 2.0 whose process
// hiccups for one second in the middle of its analysis (90% of its answers
// fail, then it is healthy) is promoted, not aborted; a broken 3.0 (half its
// answers fail throughout) is still aborted by the sequential judge.
//
// Whether the hiccup is survived is the judge's business (issue 12's
// per-process validity); today's judge bets once per second, which caps
// what one second can do.
func TestCanaryHiccupIsNotAborted(t *testing.T) {
	front := freeAddr(t)
	service := demo.AppService("shop", binary, front, "{ role: web }", "5m", `canary:
  steps:
    - set_weight: 10
    - analysis:
        sequential: { duration: 10s, warmup: 2s }
    - set_weight: 50
    - pause: 2s
  background_analysis:
    sequential: { warmup: 2s }`)
	f := newCanaryFixtureWith(t, front, service)
	s := f.s
	os.WriteFile(filepath.Join(s.workDir, "shop-2.0.conf"), []byte("version=2.0\nhiccups=true\n"), 0o644)

	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	l := demo.StartLoad(f.front, 4, 10*time.Millisecond)
	defer l.End()

	v2 := f.release("2.0")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of release %d:\n%s", v2, s.run("admin", "release", "logs", fmt.Sprint(v2)).stdout)
		}
	})
	testutil.WaitFor(t, "2.0's analysis step past its warm-up", func() bool {
		p, step := s.rollout(v2).phase()
		return p == "progressing" && step == 2
	})
	// Past the warm-up, with the judges watching: the canary's process
	// hiccups for one second.
	testutil.WaitFor(t, "canary traffic at 10%", func() bool {
		n := 0
		for _, r := range l.Since(time.Now().Add(-3 * time.Second)) {
			if r.Version == "2.0" {
				n++
			}
		}
		return n >= 20
	})
	req, _ := http.NewRequest("POST", strings.TrimSuffix(f.front, "/")+"/hiccup?for=1s", nil)
	req.Header.Set("X-Shipgate-Version", "canary")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("hiccup: %v %v", resp, err)
	}
	resp.Body.Close()
	hiccup := time.Now()
	s.ok("admin", "release", "wait", fmt.Sprint(v2))
	got := s.rollout(v2)
	if p, _ := got.phase(); got.State != "succeeded" || p != "promoted" {
		t.Fatalf("2.0 with a one-second hiccup ended %s (rollout %s): %+v", got.State, p, got.Rollouts)
	}
	var failedDuring int
	for _, r := range l.Since(hiccup.Add(-time.Second)) {
		if r.Version == "2.0" && r.Status >= 500 && r.At.Before(hiccup.Add(2*time.Second)) {
			failedDuring++
		}
	}
	if failedDuring == 0 {
		t.Fatal("the load never met the hiccup: the test proved nothing")
	}
	t.Logf("%d failed canary answers in the hiccup; promoted", failedDuring)
	// The step analysis's pass names its share of the rollout's alpha.
	var passed bool
	for _, d := range got.Rollouts[len(got.Rollouts)-1].Status.Decisions {
		if d.Judge == "sequential" && d.Phase == "successful" {
			passed = true
			if d.Evidence["rollout_judges"] != float64(2) || d.Evidence["warmup_seconds"] != float64(2) || !strings.Contains(d.Summary, "share of the rollout's 0.01 across 2 sequential judges") {
				t.Errorf("decision %+v", d)
			}
		}
	}
	if !passed {
		t.Errorf("no successful sequential decision: %+v", got.Rollouts[len(got.Rollouts)-1].Status.Decisions)
	}

	v3 := f.release("3.0")
	testutil.WaitFor(t, "3.0 to be aborted", func() bool {
		p, _ := s.rollout(v3).phase()
		return p == "aborted"
	})
	st := s.rollout(v3).Rollouts[0].Status
	var failed bool
	for _, d := range st.Decisions {
		failed = failed || (d.Judge == "sequential" && d.Phase == "failed" && strings.Contains(d.Summary, "errors are disproportionate"))
	}
	if !failed {
		t.Fatalf("3.0 aborted without a failed sequential decision: %+v", st.Decisions)
	}
}

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

// stepsJSON is what release show -o json says about the step a rollout
// ended at: the job's reason, the status, its decisions and the audit
// events.
type stepsJSON struct {
	State string `json:"state"`
	Jobs  []struct {
		Name, State, Reason string
	} `json:"jobs"`
	Rollouts []struct {
		Status struct {
			Phase     string `json:"phase"`
			Step      int    `json:"step"`
			Steps     int    `json:"steps"`
			Decisions []struct {
				Step       int    `json:"step"`
				Background bool   `json:"background"`
				Judge      string `json:"judge"`
				Phase      string `json:"phase"`
			} `json:"decisions"`
		} `json:"status"`
	} `json:"rollouts"`
	Timeline []struct {
		Action  string
		Details map[string]any
	} `json:"timeline"`
}

// TestCanaryAbortNamesOneStep: a broken canary aborted by the background
// judge while it waits at step 2 (a long timed pause) is said to have
// stopped at step 2 everywhere — the job's reason, the rollout status,
// the judge's decision (marked background, not step -1), the
// analysis.judged and rollout.aborted audit events (with step_base 1),
// and release show as text and as JSON.
func TestCanaryAbortNamesOneStep(t *testing.T) {
	front := freeAddr(t)
	f := newCanaryFixtureWith(t, front, demo.AppService("shop", binary, front, "{ role: web }", "5m", `canary:
  steps:
    - set_weight: 50
    - pause: 10m
  background_analysis:
    sequential: {}`))
	s := f.s
	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	l := demo.StartLoad(f.front, 4, 10*time.Millisecond)
	defer l.End()

	v3 := f.release("3.0") // half its answers are 500s
	var got stepsJSON
	testutil.WaitFor(t, "3.0 to be aborted and rolled back", func() bool {
		got = stepsJSON{}
		s.jsonOut(&got, "admin", "release", "show", fmt.Sprint(v3))
		return got.State == "rolled_back" && len(got.Rollouts) > 0 && got.Rollouts[len(got.Rollouts)-1].Status.Phase == "aborted"
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("release %d:\n%s", v3, s.run("admin", "release", "show", fmt.Sprint(v3)).stdout)
		}
	})

	const step = 2
	var reason string
	for _, j := range got.Jobs {
		if j.Name == "rollout" {
			reason = j.Reason
		}
	}
	if !strings.Contains(reason, fmt.Sprintf("aborted at step %d:", step)) {
		t.Errorf("job reason %q does not name step %d", reason, step)
	}
	st := got.Rollouts[len(got.Rollouts)-1].Status
	if st.Step != step || st.Steps != 2 {
		t.Errorf("rollout status at step %d of %d, want %d of 2", st.Step, st.Steps, step)
	}
	var judgedInStatus bool
	for _, d := range st.Decisions {
		if d.Step < 0 {
			t.Errorf("a decision numbered %d: %+v", d.Step, d)
		}
		judgedInStatus = judgedInStatus || d.Judge == "sequential" && d.Phase == "failed" && d.Background && d.Step == step
	}
	if !judgedInStatus {
		t.Errorf("no failed background decision at step %d: %+v", step, st.Decisions)
	}
	seen := map[string]bool{}
	for _, e := range got.Timeline {
		switch e.Action {
		case "analysis.judged", "rollout.aborted":
			seen[e.Action] = true
			if e.Details["step"] != float64(step) || e.Details["step_base"] != float64(1) {
				t.Errorf("%s names step %v (step_base %v), want %d (1): %v", e.Action, e.Details["step"], e.Details["step_base"], step, e.Details)
			}
			if e.Action == "analysis.judged" && e.Details["background"] != true {
				t.Errorf("analysis.judged of the background judge is not marked background: %v", e.Details)
			}
		}
	}
	if !seen["analysis.judged"] || !seen["rollout.aborted"] {
		t.Errorf("timeline lacks analysis.judged or rollout.aborted: %v", seen)
	}

	// The text says what the JSON says.
	text := s.ok("admin", "release", "show", fmt.Sprint(v3))
	for _, want := range []string{
		fmt.Sprintf("aborted at step %d:", step),
		fmt.Sprintf("canary, aborted, step %d of 2", step),
		fmt.Sprintf("step %d background sequential failed:", step),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("release show lacks %q:\n%s", want, text)
		}
	}
}

package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// release wait shows a rollout's progress, one line per change: its step
// and weight, the judge's verdict so far, and a manual pause with the
// command that continues it; not only "running".
func TestReleaseWaitShowsRollout(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC)
	view := func(state shipgate.ReleaseState, job shipgate.JobState, st shipgate.RolloutStatus) client.ReleaseView {
		r := &shipgate.Release{ID: 12, State: state, Run: 1}
		return client.ReleaseView{Release: r,
			Jobs:     []shipgate.JobRun{{Name: "rollout", State: job, Attempt: 1}},
			Rollouts: []client.Rollout{{Job: "rollout", Attempt: 1, PromotedThrough: -1, Status: st}}}
	}
	canary := shipgate.RolloutStatus{Strategy: "canary", Phase: shipgate.RolloutProgressing, Step: 1, Steps: 4, Weight: 10, CanaryVersion: "2.0", StableVersion: "1.0"}
	judged := canary
	judged.Decisions = []shipgate.AnalysisDecision{{At: at, Step: 1, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisInconclusive, Summary: "not enough evidence yet"}}
	paused := judged
	paused.Phase, paused.Step, paused.Pause, paused.Weight, paused.Paused = shipgate.RolloutPaused, 2, 1, 50, ""
	views := []client.ReleaseView{
		view(shipgate.StateRunning, shipgate.JobRunning, canary),
		view(shipgate.StateRunning, shipgate.JobRunning, canary), // unchanged: no new line
		view(shipgate.StateRunning, shipgate.JobRunning, judged),
		view(shipgate.StateRunning, shipgate.JobRunning, paused),
		view(shipgate.StateSucceeded, shipgate.JobSucceeded, paused),
	}
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v := views[min(n, len(views)-1)]
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}))
	defer srv.Close()
	code, out, errOut := runMain(t, map[string]string{"SHIPGATE_SERVER": srv.URL, "SHIPGATE_TOKEN": "sgp_x"}, "release", "wait", "12", "--interval", "1ms")
	if code != 0 || !strings.Contains(out, "release 12 succeeded") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	want := []string{
		"rollout: canary step 1 of 4, 2.0 at 10%",
		"rollout: canary step 1 of 4, 2.0 at 10%, sequential judge: inconclusive",
		"rollout: canary step 2 of 4, 2.0 at 50%, sequential judge: inconclusive, paused: run `shipgate promote 12`",
	}
	if len(lines) != len(want)+1 {
		t.Fatalf("want one line per change:\n%s", errOut)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d %q does not end with %q", i, lines[i], w)
		}
	}
}

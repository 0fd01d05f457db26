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
	code, out, errOut := waitOn(t, views, "12", "--interval", "1ms")
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

// release wait says why a release does not move: for one pending
// approval, the tally and who may still approve; for a queued job, the
// reason the server gives (no agent may take it), each time it changes.
func TestReleaseWaitSaysWhyItWaits(t *testing.T) {
	rel := func(state shipgate.ReleaseState) *shipgate.Release {
		r := &shipgate.Release{ID: 12, State: state, Run: 1}
		r.Environment, r.CreatedBy = "staging", "carol"
		r.Policy.Approvals = shipgate.ApprovalPolicy{Required: 2, FromGroups: []string{"release-managers"}}
		r.ApproverGroups = map[string][]string{"release-managers": {"alice", "bob", "carol"}}
		return r
	}
	queued := func(reason string) client.ReleaseView {
		return client.ReleaseView{Release: rel(shipgate.StateRunning), Jobs: []shipgate.JobRun{{Name: "deploy", State: shipgate.JobQueued, Attempt: 1, Reason: reason}}}
	}
	views := []client.ReleaseView{
		{Release: rel(shipgate.StatePendingApproval), Tally: &shipgate.ApprovalTally{Required: 2, Approvers: []string{}}},
		{Release: rel(shipgate.StatePendingApproval), Tally: &shipgate.ApprovalTally{Required: 2, Approvers: []string{"alice"}}},
		queued("; no online agent with these labels may take jobs of environment staging (their join tokens are limited to other environments)"),
		queued("; no online agent with these labels may take jobs of environment staging (their join tokens are limited to other environments)"),
		queued("waiting for runner"),
		{Release: rel(shipgate.StateSucceeded), Jobs: []shipgate.JobRun{{Name: "deploy", State: shipgate.JobSucceeded, Attempt: 1}}},
	}
	code, out, errOut := waitOn(t, views, "12", "--interval", "1ms")
	if code != 0 || !strings.Contains(out, "release 12 succeeded") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	want := []string{
		"release 12 pending_approval | approvals: 0 of 2; needs 2 more from release-managers (alice, bob; carol created it): shipgate approve 12",
		"release 12 pending_approval | approvals: 1 of 2 (alice); needs 1 more from release-managers (bob; carol created it): shipgate approve 12",
		"release 12 running | run 1: deploy queued (no online agent with these labels may take jobs of environment staging (their join tokens are limited to other environments))",
		"release 12 running | run 1: deploy queued (waiting for runner)",
		"release 12 succeeded | run 1: deploy succeeded",
	}
	if len(lines) != len(want) {
		t.Fatalf("want one line per change:\n%s", errOut)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d\n %q\ndoes not end with\n %q", i, lines[i], w)
		}
	}
}

// With -o json the progress lines still go to stderr (stdout holds only
// JSON), and a --timeout prints where the release stands as JSON.
func TestReleaseWaitJSONShowsProgress(t *testing.T) {
	r := &shipgate.Release{ID: 4, State: shipgate.StatePendingApproval}
	r.Policy.Approvals.Required = 1
	v := client.ReleaseView{Release: r}
	code, out, errOut := waitOn(t, []client.ReleaseView{v}, "4", "--interval", "1ms", "--timeout", "50ms", "-o", "json")
	if code != 2 || !strings.Contains(errOut, "pending_approval") || !strings.Contains(errOut, "is still pending_approval after") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got struct {
		ID    int64  `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.ID != 4 || got.State != "pending_approval" {
		t.Fatalf("stdout %q: %v", out, err)
	}
}

// waitOn runs `shipgate release wait ARGS` against a server that answers
// views one after another, then the last one for ever.
func waitOn(t *testing.T, views []client.ReleaseView, args ...string) (int, string, string) {
	t.Helper()
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
	return runMain(t, map[string]string{"SHIPGATE_SERVER": srv.URL, "SHIPGATE_TOKEN": "sgp_x"}, append([]string{"release", "wait"}, args...)...)
}

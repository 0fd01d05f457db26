package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// The history of a rollout reported through the agent protocol: a point
// per stored report, with traffic, progress and every decision; bad
// queries get a clear error. The test server validates every exchange
// against openapi.json.
func TestRolloutHistoryRoute(t *testing.T) {
	f, ag, asg, _ := rollingAgent(t)
	id := asg.Key.ReleaseID
	viewer := f.client("viewer")
	if _, err := viewer.RolloutHistory(ctx, id, "", 0, 0, 0); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("history before any report: %v", err)
	}
	for seq := int64(1); seq <= 3; seq++ {
		s := rollout(seq, shipgate.RolloutProgressing, 1)
		s.Weight = int(seq) * 10
		s.Traffic = []shipgate.VersionTraffic{{Version: "0", Role: "stable", Requests: 100 * seq, Errors: seq, Slow: 2 * seq}, {Version: "1", Role: "canary", Requests: 10 * seq, Slow: seq}}
		s.Progress = []shipgate.AnalysisProgress{{Step: 1, Judge: "sequential", Metric: "errors+latency", E: map[string]float64{"errors": float64(seq)}, Threshold: map[string]float64{"errors": 100}}}
		if seq == 3 {
			s.Decisions = []shipgate.AnalysisDecision{{At: time.Now().UTC(), Step: 1, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisSuccessful, Summary: "no evidence the canary is worse"}}
		}
		if _, err := ag.Rollout(ctx, "", asg.Key, s); err != nil {
			t.Fatal(err)
		}
	}
	h, err := viewer.RolloutHistory(ctx, id, "", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Job != "deploy" || h.Attempt != 1 || len(h.Points) != 3 || h.Points[2].Weight != 30 || h.Points[2].Traffic[1].Slow != 3 || h.Points[1].Progress[0].E["errors"] != 2 {
		t.Fatalf("history %+v", h)
	}
	if len(h.Decisions) != 1 || h.Decisions[0].Summary != "no evidence the canary is worse" {
		t.Fatalf("decisions %+v", h.Decisions)
	}
	if h2, err := viewer.RolloutHistory(ctx, id, "deploy", 1, 1, 0); err != nil || len(h2.Points) != 3 {
		t.Fatalf("by job and attempt: %v %v", h2, err)
	}
	for q, want := range map[string]string{
		"?job=nope":  `release %d has no job "nope"`,
		"?attempt=7": "job deploy of run 1 of release %d has reported no rollout in attempt 7",
		"?run=9":     "release %d has no run 9",
	} {
		if q == "?attempt=7" {
			q = "?job=deploy&attempt=7"
		}
		status, body := f.raw(t, "GET", fmt.Sprintf("/api/v1/releases/%d/rollouts/history%s", id, q), f.tokens["viewer"], nil)
		if msg, _ := body["error"].(map[string]any)["message"].(string); status != 404 || msg != fmt.Sprintf(want, id) {
			t.Errorf("%s: %d %v", q, status, body)
		}
	}
	if status, _ := f.raw(t, "GET", fmt.Sprintf("/api/v1/releases/%d/rollouts/history?attempt=x", id), f.tokens["viewer"], nil); status != 400 {
		t.Errorf("attempt=x: %d", status)
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// release show explains a rollout: where it is, what it waits for and
// what each analysis decided, in the agent's own sentence.
func TestPrintRollout(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC)
	ro := client.Rollout{Job: "rollout", Attempt: 1, PromotedThrough: -1, Status: shipgate.RolloutStatus{
		Seq: 9, Strategy: "canary", Phase: shipgate.RolloutPaused, Step: 3, Pause: 2, Steps: 7, Weight: 10,
		StableVersion: "1.0", CanaryVersion: "2.0", Paused: "analysis inconclusive at step 3",
		Traffic: []shipgate.VersionTraffic{
			{Version: "2.0", Role: "canary", Requests: 400, Errors: 2, P50MS: 12, P90MS: 40.5},
			{Version: "1.0", Role: "stable", Requests: 3600, Errors: 0, P50MS: 11, P90MS: 38},
		},
		Decisions: []shipgate.AnalysisDecision{
			{At: at, Step: 3, Judge: "threshold", Metric: "error_rate", Phase: shipgate.AnalysisInconclusive, Summary: "error rate 0.5% is neither below 0.1% nor above 1%"},
			{At: at.Add(time.Second), Step: 3, Background: true, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisSuccessful, Summary: "no evidence the canary is worse"},
			{At: at.Add(2 * time.Second), Background: true, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisFailed, Summary: "an older agent's"},
		},
	}}
	var b bytes.Buffer
	printRollout(&b, 12, ro, true)
	out := b.String()
	for _, want := range []string{
		"rollout of rollout (attempt 1): canary, paused, step 3 of 7\n",
		"weight:    canary 2.0 at 10%, stable 1.0\n",
		"paused:    analysis inconclusive at step 3 — run: shipgate promote 12\n",
		"2.0      canary  400       2       0.50%    12.0ms  40.5ms",
		"1.0      stable  3600      0       0.00%    11.0ms  38.0ms",
		// Each decision names its step as the status does (from 1); a
		// background one says so; one of an older agent names no step.
		"    10:04:05 step 3 threshold inconclusive: error rate 0.5% is neither below 0.1% nor above 1%\n",
		"    10:04:06 step 3 background sequential successful: no evidence the canary is worse\n",
		"    10:04:07 background sequential failed: an older agent's\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	ro.PromotedThrough = 2
	b.Reset()
	printRollout(&b, 12, ro, true)
	if strings.Contains(b.String(), "run: shipgate promote") || !strings.Contains(b.String(), "promoted; the agent continues") {
		t.Errorf("a promoted pause still asks for promote:\n%s", b.String())
	}
	// A pause whose attempt ended (the job failed or was cancelled while
	// paused, or a retry superseded it) cannot be promoted any more.
	ro.PromotedThrough = -1
	b.Reset()
	printRollout(&b, 12, ro, false)
	if strings.Contains(b.String(), "run: shipgate promote") || !strings.Contains(b.String(), "nothing to promote") {
		t.Errorf("an ended attempt's pause asks for promote:\n%s", b.String())
	}
}

package tracing

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func at(min int, action string, details map[string]any) shipgate.AuditEvent {
	e := shipgate.NewAuditEvent(shipgate.SystemActor, action, "release/7", details)
	e.Seq, e.At = int64(min+1), t0.Add(time.Duration(min)*time.Minute)
	return e
}

func job(run, attempt int, extra map[string]any) map[string]any {
	d := map[string]any{"job": "deploy", "run": run, "attempt": attempt}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func emitter() *Emitter { return &Emitter{IDs: NewIDs([]byte("0123456789abcdef0123456789abcdef"))} }

func named(spans []span) map[string]span {
	m := map[string]span{}
	for _, s := range spans {
		m[s.name] = s
	}
	return m
}

func minutes(s span) [2]int {
	return [2]int{int(s.start.Sub(t0).Minutes()), int(s.end.Sub(t0).Minutes())}
}

// TestReleaseAndRerunSpans: the first final state emits the root with its
// approval and queue spans; a rerun's final state emits a release.run span
// under the root, and the rerun's jobs hang from it.
func TestReleaseAndRerunSpans(t *testing.T) {
	e := emitter()
	r := &shipgate.Release{ID: 7, Run: 2}
	r.Service, r.Environment, r.Version, r.CreatedAt = "web", "prod", "2.0", t0
	h := []shipgate.AuditEvent{
		at(0, shipgate.ActionReleaseCreated, nil),
		at(5, shipgate.ActionReleaseApproved, nil),
		at(5, shipgate.ActionReleaseQueued, nil),
		at(6, shipgate.ActionReleaseStarted, nil),
		at(7, shipgate.ActionJobStarted, job(1, 1, nil)),
		at(9, shipgate.ActionJobFinished, job(1, 1, map[string]any{"reason": "exit 1"})),
		at(9, shipgate.ActionReleaseFailed, map[string]any{"reason": "deploy failed"}),
		at(30, shipgate.ActionReleaseRerun, nil),
		at(31, shipgate.ActionReleaseStarted, nil),
		at(32, shipgate.ActionJobStarted, job(2, 1, nil)),
		at(35, shipgate.ActionJobFinished, job(2, 1, nil)),
		at(35, shipgate.ActionReleaseSucceeded, nil),
	}
	first := named(e.releaseSpans(r, h[6], h[:7]))
	root := first["release"]
	if root.id != e.IDs.Root(7) || root.parent.IsValid() || minutes(root) != [2]int{0, 9} || root.failed != "deploy failed" {
		t.Fatalf("root: %+v", root)
	}
	if a := first["release.approval"]; a.parent != root.id || minutes(a) != [2]int{0, 5} {
		t.Fatalf("approval: %+v", a)
	}
	if q := first["release.queue"]; q.parent != root.id || minutes(q) != [2]int{5, 6} {
		t.Fatalf("queue: %+v", q)
	}
	if j := e.jobSpans(r, h[5], h[:6], nil); len(j) != 1 || j[0].parent != root.id || minutes(j[0]) != [2]int{7, 9} || j[0].failed == "" {
		t.Fatalf("run 1's job: %+v", j)
	}

	second := named(e.releaseSpans(r, h[11], h))
	if _, again := second["release"]; again {
		t.Fatalf("the rerun re-emitted the root: %+v", second)
	}
	run := second["release.run"]
	if run.parent != root.id || minutes(run) != [2]int{30, 35} || run.failed != "" {
		t.Fatalf("rerun span: %+v", run)
	}
	if q := second["release.queue"]; q.parent != run.id || minutes(q) != [2]int{30, 31} {
		t.Fatalf("the rerun's queue: %+v", q)
	}
	done := []shipgate.JobRun{{Name: "deploy", Run: 2, Attempt: 1, State: shipgate.JobSucceeded}}
	j := e.jobSpans(r, h[10], h[:11], done)
	if len(j) != 1 || j[0].parent != run.id || j[0].id != e.IDs.Job(shipgate.AttemptKey{ReleaseID: 7, Run: 2, Job: "deploy", Attempt: 1}) || j[0].failed != "" {
		t.Fatalf("run 2's job: %+v", j)
	}
}

// TestRolloutStepSpans: each weight change is a span under its attempt,
// lasting until the rollout's next event; the step an abort ended failed.
func TestRolloutStepSpans(t *testing.T) {
	e := emitter()
	r := &shipgate.Release{ID: 7, Run: 1}
	r.CreatedAt = t0
	step := func(n, from, to int) map[string]any {
		return job(1, 1, map[string]any{"step": n, "weight_from": from, "weight_to": to, "canary_version": "2.0"})
	}
	h := []shipgate.AuditEvent{
		at(1, shipgate.ActionJobStarted, job(1, 1, nil)),
		at(2, shipgate.ActionRolloutStep, step(1, 0, 20)),
		at(4, shipgate.ActionAnalysisJudged, job(1, 1, nil)),
		at(5, shipgate.ActionRolloutStep, step(2, 20, 50)),
		at(6, shipgate.ActionJobStarted, job(1, 2, nil)), // another attempt's: ignored
		at(8, shipgate.ActionRolloutAborted, job(1, 1, map[string]any{"reason": "error rate 4% > 1%"})),
		at(9, shipgate.ActionJobFinished, job(1, 1, map[string]any{"reason": "aborted"})),
	}
	spans := e.jobSpans(r, h[6], h[:6], nil)
	if len(spans) != 3 {
		t.Fatalf("want the job and 2 rollout steps, got %+v", spans)
	}
	jobSpan := spans[0]
	if minutes(jobSpan) != [2]int{1, 9} {
		t.Fatalf("job: %+v", jobSpan)
	}
	s1, s2 := spans[1], spans[2]
	if s1.name != "rollout.step" || s1.parent != jobSpan.id || minutes(s1) != [2]int{2, 5} || s1.failed != "" {
		t.Fatalf("step 1: %+v", s1)
	}
	if minutes(s2) != [2]int{5, 8} || s2.failed != "the rollout was aborted: error rate 4% > 1%" || s1.id == s2.id {
		t.Fatalf("step 2: %+v", s2)
	}
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

const traceService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: prod
      approvals: { required: 1 }
      rollback: {enabled: true, check_target: pipeline, delay_seconds: 0}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo "traceparent=$TRACEPARENT"
          - run: test "$SHIPGATE_INPUT_OK" = yes
`

var traceparentLine = regexp.MustCompile(`traceparent=00-([0-9a-f]{32})-([0-9a-f]{16})-01`)

// TestTracesEndToEnd runs the built server with OTEL_EXPORTER_OTLP_ENDPOINT
// pointing at an in-process OTLP receiver and drives v1 (good), v2
// (approved, then failing) and the rollback it causes: each release's spans
// form one trace (root, approval, queue, job, steps), the step saw a
// TRACEPARENT of its own span in that trace, and the rollback's root span
// links to the release it rolls back.
func TestTracesEndToEnd(t *testing.T) {
	rc := testutil.NewOTLPReceiver(t)
	s := startServer(t, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_trace-e2e-admin-token",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+rc.URL, "OTEL_SERVICE_NAME=shipgate-e2e", "OTEL_BSP_SCHEDULE_DELAY=50")
	s.tokens["admin"] = "sgp_trace-e2e-admin-token"
	s.ok("admin", "user", "create", "alice", "--role", "approver")
	s.tokens["alice"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "alice"))
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(traceService), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)

	deploy := func(version, ok string) int64 {
		r := s.create("admin", "web", "--env", "prod", "--version", version, "--artifact", "a.tar", "--input", "ok="+ok, "--commit", "c0ffee"+version)
		s.ok("alice", "approve", fmt.Sprint(r.ID))
		s.run("admin", "release", "wait", fmt.Sprint(r.ID))
		return r.ID
	}
	v1 := deploy("1.0", "yes")
	v2 := deploy("2.0", "no")
	if got := s.show(v2).State; got != "failed" && got != "rolled_back" {
		t.Fatalf("v2 is %s, want failed", got)
	}
	var rb int64
	testutil.WaitFor(t, "the rollback release of v2", func() bool {
		var list []releaseJSON
		s.jsonOut(&list, "admin", "release", "list", "--limit", "1")
		if len(list) == 1 && list[0].ID > v2 {
			rb = list[0].ID
		}
		return rb != 0
	})
	if s.show(rb).State == "pending_approval" {
		s.ok("alice", "approve", fmt.Sprint(rb))
	}
	if out := s.ok("admin", "release", "wait", fmt.Sprint(rb)); !strings.Contains(out, "succeeded") {
		t.Fatalf("the rollback release did not succeed: %s", out)
	}

	// What the failing release's step saw.
	logs := s.ok("admin", "release", "logs", fmt.Sprint(v2), "--job", "deploy")
	m := traceparentLine.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("the step saw no TRACEPARENT:\n%s", logs)
	}
	stepTrace, stepParent := m[1], m[2]

	roots := map[int64]testutil.Span{}
	testutil.WaitFor(t, "the root spans of v1, v2 and the rollback", func() bool {
		clear(roots)
		for _, sp := range rc.Spans() {
			if sp.Name == "release" {
				var id int64
				fmt.Sscan(sp.Attrs["shipgate.release.id"], &id)
				roots[id] = sp
			}
		}
		return len(roots) == 3
	})
	root := roots[v2]
	if root.Parent != "" || root.TraceID != stepTrace || !root.Error || root.Service != "shipgate-e2e" {
		t.Fatalf("v2's root span: %+v; the step's trace is %s", root, stepTrace)
	}
	if root.Attrs["shipgate.outcome"] != "failed" || root.Attrs["vcs.ref.head.revision"] != "c0ffee2.0" || root.Attrs["shipgate.environment"] != "prod" {
		t.Fatalf("v2's root attributes: %v", root.Attrs)
	}
	if roots[v1].TraceID == root.TraceID || roots[rb].TraceID == root.TraceID {
		t.Fatal("two releases share a trace")
	}
	// The rollback release is its own trace, linked to the one it rolls back.
	if l := roots[rb].Links; len(l) != 1 || l[0].TraceID != root.TraceID || l[0].SpanID != root.ID {
		t.Fatalf("the rollback's root links %+v, want v2's root %s/%s", l, root.TraceID, root.ID)
	}

	// v2's trace: root ← approval, queue, job deploy ← two steps.
	var trace []testutil.Span
	testutil.WaitFor(t, "v2's job and step spans", func() bool {
		trace = trace[:0]
		for _, sp := range rc.Spans() {
			if sp.TraceID == root.TraceID {
				trace = append(trace, sp)
			}
		}
		return len(trace) >= 6
	})
	byName := map[string][]testutil.Span{}
	for _, sp := range trace {
		t.Logf("v2 span %-18q id %s parent %s error %v", sp.Name, sp.ID, sp.Parent, sp.Error)
		byName[sp.Name] = append(byName[sp.Name], sp)
	}
	for _, name := range []string{"release.approval", "release.queue", "job deploy"} {
		if len(byName[name]) != 1 || byName[name][0].Parent != root.ID {
			t.Fatalf("want one %q span under the root %s, got %+v", name, root.ID, byName[name])
		}
	}
	job := byName["job deploy"][0]
	if !job.Error || job.Attrs["shipgate.attempt"] != "1" {
		t.Fatalf("job span: %+v", job)
	}
	var steps []testutil.Span
	for name, sps := range byName {
		if strings.HasPrefix(name, "step ") {
			steps = append(steps, sps...)
		}
	}
	if len(steps) != 2 {
		t.Fatalf("want 2 step spans in v2's trace, got %d: %+v", len(steps), trace)
	}
	var echoed bool
	for _, st := range steps {
		if st.Parent != job.ID {
			t.Fatalf("step span %q has parent %s, want the job's %s", st.Name, st.Parent, job.ID)
		}
		echoed = echoed || st.ID == stepParent
	}
	if !echoed {
		t.Fatalf("the step's TRACEPARENT names span %s, which is none of its trace's step spans %+v", stepParent, steps)
	}
	if job.StartNanos > steps[0].StartNanos || root.StartNanos > job.StartNanos || root.EndNanos < job.EndNanos {
		t.Fatal("spans do not nest in time: root ⊇ job ⊇ steps")
	}

	// A restart: the next release's trace comes from the same stored
	// secret (its step's TRACEPARENT is in its root's trace), and nothing
	// emitted before is emitted again.
	s.stop()
	s.start()
	v3 := deploy("3.0", "yes")
	var v3root testutil.Span
	testutil.WaitFor(t, "v3's root span after the restart", func() bool {
		for _, sp := range rc.Spans() {
			if sp.Name == "release" && sp.Attrs["shipgate.release.id"] == fmt.Sprint(v3) {
				v3root = sp
			}
		}
		return v3root.ID != ""
	})
	m = traceparentLine.FindStringSubmatch(s.ok("admin", "release", "logs", fmt.Sprint(v3), "--job", "deploy"))
	if m == nil || m[1] != v3root.TraceID {
		t.Fatalf("after the restart the step's TRACEPARENT %v is not in its release's trace %s", m, v3root.TraceID)
	}
	n := 0
	for _, sp := range rc.Spans() {
		if sp.TraceID == root.TraceID {
			n++
		}
	}
	if n != len(trace) {
		t.Fatalf("v2's trace has %d spans after the restart, %d before: spans were emitted twice", n, len(trace))
	}
}

// TestTracesOffByDefault: without an OTLP endpoint the server exports
// nothing and steps get no TRACEPARENT.
func TestTracesOffByDefault(t *testing.T) {
	s := startServer(t, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_trace-off-admin-token", "OTEL_SERVICE_NAME=ignored")
	s.tokens["admin"] = "sgp_trace-off-admin-token"
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(strings.Replace(traceService, "approvals: { required: 1 }", "approvals: { required: 0 }", 1)), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
	r := s.create("admin", "web", "--env", "prod", "--version", "1.0", "--artifact", "a.tar", "--input", "ok=yes")
	s.ok("admin", "release", "wait", fmt.Sprint(r.ID))
	logs := s.ok("admin", "release", "logs", fmt.Sprint(r.ID), "--job", "deploy")
	if traceparentLine.MatchString(logs) || !strings.Contains(logs, "traceparent=") {
		t.Fatalf("with tracing off the step saw a TRACEPARENT (or did not run):\n%s", logs)
	}
	s.mu.Lock()
	stderr := s.stderr.String()
	s.mu.Unlock()
	if strings.Contains(stderr, "exporting release traces") {
		t.Fatal("the server says it exports traces with no endpoint set")
	}
}

// TestTracesBadSettingsRefused: an exporter or protocol shipgate cannot
// honour stops the server with a clear error, before anything is created,
// rather than silently not tracing.
func TestTracesBadSettingsRefused(t *testing.T) {
	for _, env := range [][]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
		{"OTEL_TRACES_EXPORTER=zipkin"},
		// An endpoint without a scheme is the usual slip; the exporter would
		// log a parse error and send to https://localhost:4318 instead.
		{"OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:4318"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otel-collector:4318/v1/traces"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=ftp://collector:4318"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		r := runBinary(t, env, "serve", "--listen", "127.0.0.1:0", "--data", data)
		k, v, _ := strings.Cut(env[len(env)-1], "=")
		// Named; an endpoint's value is never shown (it may hold credentials).
		want := k + `="` + v + `"`
		if strings.Contains(k, "ENDPOINT") {
			want = k + " is not an http:// or https:// URL"
			if strings.Contains(r.stderr, v) {
				t.Fatalf("serve with %v printed the endpoint: %s", env, r.stderr)
			}
		}
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("serve with %v: exit %d, stderr %s", env, r.code, r.stderr)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Fatalf("serve with %v refused to start but created --data (%v)", env, err)
		}
	}
}

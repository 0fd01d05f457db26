package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// TestTracesThroughAnAgent: a job run by an agent (its own process, with
// OTEL_* of its own) gets the job span's traceparent from the server; the
// agent exports the step spans under it, and the step's TRACEPARENT names
// the agent's step span.
func TestTracesThroughAnAgent(t *testing.T) {
	rc := testutil.NewOTLPReceiver(t)
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + rc.URL, "OTEL_BSP_SCHEDULE_DELAY=50"}
	s := startServerWith(t, []string{"--no-local-runner"}, append(otel, "OTEL_SERVICE_NAME=cp")...)
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "hosts"))
	agent := exec.Command(binary, "agent", "--server", s.url, "--token", join, "--name", "host-1", "--labels", "role=web",
		"--work-dir", filepath.Join(s.dir, "agent-host-1"))
	agent.Env = append(append(os.Environ(), otel...), "OTEL_SERVICE_NAME=edge-agent")
	stdout, _ := agent.StdoutPipe()
	var stderr bytes.Buffer
	agent.Stderr = &lockedWriter{mu: &s.mu, w: &stderr}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agent.Process.Signal(syscall.SIGTERM) // flushes its spans first
		agent.Wait()
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.Contains(sc.Text(), "agent host-1 registered") {
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("agent did not register: %q\n%s", sc.Text(), stderr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(strings.NewReplacer("approvals: { required: 1 }", "approvals: { required: 0 }",
		"      - name: deploy\n", "      - name: deploy\n        runs_on: {role: web}\n").Replace(traceService)), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
	r := s.create("admin", "web", "--env", "prod", "--version", "1.0", "--artifact", "a.tar", "--input", "ok=yes")
	if out := s.ok("admin", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("release: %s", out)
	}
	m := traceparentLine.FindStringSubmatch(s.ok("admin", "release", "logs", fmt.Sprint(r.ID), "--job", "deploy"))
	if m == nil {
		t.Fatal("the agent's step saw no TRACEPARENT")
	}
	var job testutil.Span
	var steps []testutil.Span
	testutil.WaitFor(t, "the server's job span and the agent's two step spans", func() bool {
		steps = steps[:0]
		for _, sp := range rc.Spans() {
			switch {
			case sp.TraceID != m[1]:
			case sp.Name == "job deploy":
				job = sp
			case strings.HasPrefix(sp.Name, "step "):
				steps = append(steps, sp)
			}
		}
		return job.ID != "" && len(steps) == 2
	})
	if job.Service != "cp" || job.Attrs["shipgate.runner"] != "host-1" {
		t.Fatalf("job span: %+v", job)
	}
	for _, st := range steps {
		if st.Service != "edge-agent" || st.Parent != job.ID || st.Attrs["shipgate.runner"] != "host-1" {
			t.Fatalf("step span %+v: want one exported by the agent under the job span %s", st, job.ID)
		}
	}
	if steps[0].ID != m[2] && steps[1].ID != m[2] {
		t.Fatalf("the step's TRACEPARENT names span %s, not one of the agent's step spans", m[2])
	}
}

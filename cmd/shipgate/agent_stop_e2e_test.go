package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// A graceful agent stop is not a server error: the server must not log
// the long-poll the agent abandoned as level=ERROR.
func TestAgentStopIsNotAServerError(t *testing.T) {
	s := startServerWith(t, []string{"--no-local-runner"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "hosts"))
	a := s.startAgent("web-a", "role=web", join)
	// Once its claim is waiting on the server, stop it as ctrl-C would.
	testutil.WaitFor(t, "the agent to be online", func() bool {
		var list []struct{ Name, State string }
		s.jsonOut(&list, "admin", "agent", "list")
		return len(list) == 1 && list[0].State == "online"
	})
	a.cmd.Process.Signal(syscall.SIGTERM)
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("agent exit: %v", err)
	}
	// The server answers (and logs) each request before the next one is
	// served, so a request after the stop orders the log behind it.
	s.ok("admin", "agent", "list")
	s.stop()
	s.mu.Lock()
	logs := s.stderr.String()
	s.mu.Unlock()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("server logged an error for a graceful agent stop: %s", line)
		}
	}
}

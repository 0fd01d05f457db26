package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
)

// agentProc is a `shipgate agent` process.
type agentProc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
}

// startAgent runs an agent as its own process and waits until it has
// registered.
func (s *server) startAgent(name, labels, joinToken string, extra ...string) *agentProc {
	t := s.t
	t.Helper()
	a := &agentProc{name: name}
	args := []string{"agent", "--server", s.url, "--token", joinToken, "--name", name, "--labels", labels, "--work-dir", filepath.Join(s.dir, "agent-"+name)}
	a.cmd = exec.Command(binary, append(args, extra...)...)
	a.cmd.Dir = s.workDir
	a.cmd.Stderr = &lockedWriter{mu: &a.mu, w: &a.out}
	stdout, _ := a.cmd.StdoutPipe()
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Signal(syscall.SIGTERM)
			a.cmd.Wait()
		}
		if t.Failed() {
			a.mu.Lock()
			t.Logf("agent %s stderr:\n%s", name, a.out.String())
			a.mu.Unlock()
		}
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.Contains(sc.Text(), "agent "+name+" registered") {
		t.Fatalf("agent %s did not register: %q\n%s", name, sc.Text(), a.out.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return a
}

func (a *agentProc) kill9() {
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
}

type jobJSON struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Runner  string `json:"runner"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason"`
}

type releaseJobsJSON struct {
	State    string    `json:"state"`
	Reason   string    `json:"reason"`
	Jobs     []jobJSON `json:"jobs"`
	Timeline []struct {
		Actor, Action string
		At            time.Time
		Details       map[string]any
	} `json:"timeline"`
}

func (s *server) showJobs(id int64) releaseJobsJSON {
	s.t.Helper()
	var r releaseJobsJSON
	s.jsonOut(&r, "admin", "release", "show", fmt.Sprint(id))
	return r
}

const agentService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: fleet}
spec:
  environments:
    - name: staging
  pipeline:
    jobs:
      - name: zone-b-only
        runs_on: {zone: b}
        steps:
          - run: echo "zone b job"
      - name: long
        needs: [zone-b-only]
        runs_on: {role: web}
        retries: RETRIES
        steps:
          - run: |
              echo "attempt $SHIPGATE_ATTEMPT started"
              if [ "$SHIPGATE_ATTEMPT" = 1 ]; then exec sleep 300; fi
`

// TestAgents runs the server and two agents as separate processes: jobs
// go only to agents with their labels; killing the agent that runs a job
// hands the job to the other agent once the lease has expired, and only
// then; without retries left the release fails naming the lost agent.
func TestAgents(t *testing.T) {
	s := startServerWith(t, []string{"--no-local-runner", "--lease-ttl", "3s"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "test-hosts"))
	agents := map[string]*agentProc{
		"web-a": s.startAgent("web-a", "role=web,zone=a", join),
		"web-b": s.startAgent("web-b", "role=web,zone=b", join),
	}
	var list []struct{ Name, State string }
	s.jsonOut(&list, "admin", "agent", "list")
	if len(list) != 2 || list[0].State != "online" || list[1].State != "online" {
		t.Fatalf("agent list: %+v", list)
	}
	os.WriteFile(filepath.Join(s.workDir, "fleet.tar"), []byte("fleet"), 0o644)

	for _, retries := range []int{1, 0} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) {
			f := filepath.Join(s.workDir, "fleet.yaml")
			os.WriteFile(f, []byte(strings.Replace(agentService, "RETRIES", fmt.Sprint(retries), 1)), 0o644)
			s.ok("admin", "apply", "-f", f)
			r := s.create("admin", "fleet", "--env", "staging", "--version", fmt.Sprint(retries), "--artifact", "fleet.tar")

			var victim string
			testutil.WaitFor(t, "the long job to run", func() bool {
				for _, j := range s.showJobs(r.ID).Jobs {
					if j.Name == "long" && j.State == "running" && strings.Contains(s.ok("admin", "release", "logs", fmt.Sprint(r.ID), "--job", "long"), "attempt 1 started") {
						victim = j.Runner
						return true
					}
				}
				return false
			})
			got := s.showJobs(r.ID)
			if got.Jobs[0].Runner != "web-b" {
				t.Fatalf("the zone=b job ran on %s", got.Jobs[0].Runner)
			}
			killed := time.Now()
			agents[victim].kill9()

			if retries == 0 {
				wait := s.run("admin", "release", "wait", fmt.Sprint(r.ID))
				if wait.code == 0 || !strings.Contains(wait.stdout, "lease expired on agent "+victim) {
					t.Fatalf("release wait: %d %s", wait.code, wait.stdout)
				}
				return
			}
			if out := s.ok("admin", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
				t.Fatalf("wait: %s", out)
			}
			got = s.showJobs(r.ID)
			long := got.Jobs[1]
			if long.Attempt != 2 || long.Runner == victim {
				t.Fatalf("long job: attempt %d on %s (killed %s)", long.Attempt, long.Runner, victim)
			}
			// The retry came from the lease running out, and the second
			// attempt started only after that.
			var expired, restarted time.Time
			for _, e := range got.Timeline {
				if e.Action == "job.retry" && strings.Contains(fmt.Sprint(e.Details["reason"]), "lease expired on agent "+victim) {
					expired = e.At
				}
				if e.Action == "job.started" && e.Details["job"] == "long" && fmt.Sprint(e.Details["attempt"]) == "2" {
					restarted = e.At
				}
			}
			if expired.IsZero() || restarted.IsZero() || restarted.Before(expired) || expired.Before(killed) {
				t.Fatalf("lease expiry %v, second start %v, kill %v", expired, restarted, killed)
			}
			agents[victim] = s.startAgent(victim, map[string]string{"web-a": "role=web,zone=a", "web-b": "role=web,zone=b"}[victim], join)
		})
	}
	if out := s.ok("admin", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Fatal(out)
	}
}

// TestScopedAgentToken drives join tokens through the real binary: a
// scoped token is listed with its scope; an agent with labels outside it,
// or with a reserved shipgate. label, is refused with the reason and exits
// (no retrying), and the refusal is in the audit log; an agent in scope
// joins, and after a restart re-registers its live name at once with the
// secret it keeps in its work dir.
func TestScopedAgentToken(t *testing.T) {
	s := startServerWith(t, []string{"--no-local-runner", "--agent-lost-after", "10m"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "web-a", "--scope", "role=web,zone=a", "--env", "staging", "--expires-in", "30d"))
	var tokens []struct {
		Scope     map[string]string `json:"scope"`
		Envs      []string          `json:"envs"`
		ExpiresAt *time.Time        `json:"expires_at"`
	}
	s.jsonOut(&tokens, "admin", "agent", "token", "list")
	if len(tokens) != 1 || tokens[0].Scope["role"] != "web" || tokens[0].Scope["zone"] != "a" || len(tokens[0].Envs) != 1 || tokens[0].Envs[0] != "staging" ||
		tokens[0].ExpiresAt == nil || tokens[0].ExpiresAt.Before(time.Now().Add(29*24*time.Hour)) {
		t.Fatalf("agent token list: %+v", tokens)
	}
	if out := s.ok("admin", "agent", "token", "list"); !strings.Contains(out, "role=web,zone=a") || !strings.Contains(out, "staging") {
		t.Fatalf("agent token list table:\n%s", out)
	}
	s.fails("--scope: label \"role\" is not of the form key=value", "admin", "agent", "token", "create", "--scope", "role")
	s.fails("reserved for the server", "admin", "agent", "token", "create", "--scope", "shipgate.local=true")

	s.tokens["joiner"] = join
	workDir := filepath.Join(s.dir, "agent-x")
	s.fails("label role=db is outside it (the scope wants role=web)", "joiner", "agent", "--name", "web-x", "--labels", "role=db,zone=a", "--work-dir", workDir)
	// Another name: repeated refusals of one name within a minute are
	// counted into one event, written when the minute ends.
	s.fails("label shipgate.local is reserved for the server", "joiner", "agent", "--name", "web-y", "--labels", "role=web,zone=a,shipgate.local=true", "--work-dir", workDir)
	if out := s.ok("admin", "audit", "export"); strings.Count(out, `"action":"agent.join_refused"`) != 2 {
		t.Fatalf("refused joins in the audit log:\n%s", out)
	}
	var agents []struct{ Name string }
	if s.jsonOut(&agents, "admin", "agent", "list"); len(agents) != 0 {
		t.Fatalf("refused agents were registered: %+v", agents)
	}

	a := s.startAgent("web-a1", "role=web,zone=a,disk=ssd", join)
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.cmd.Wait()
	// Restarted while the server still counts it as live (lost after 10m):
	// it proves itself with the secret in its work dir instead of waiting.
	again := exec.Command(binary, "agent", "--server", s.url, "--token", join, "--name", "web-a1", "--labels", "role=web,zone=a,disk=ssd", "--work-dir", filepath.Join(s.dir, "agent-web-a1"))
	var stderr bytes.Buffer
	var mu sync.Mutex
	again.Stderr = &lockedWriter{mu: &mu, w: &stderr}
	stdout, _ := again.StdoutPipe()
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Process.Signal(syscall.SIGTERM); again.Wait() })
	registered := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		registered <- sc.Text()
		for sc.Scan() {
		}
	}()
	for done := false; !done; {
		select {
		case line := <-registered:
			if !strings.Contains(line, "agent web-a1 registered") {
				t.Fatalf("restarted agent: %q", line)
			}
			done = true
		case <-time.After(100 * time.Millisecond):
			mu.Lock()
			text := stderr.String()
			mu.Unlock()
			if strings.Contains(text, "cannot register") {
				t.Fatalf("the restarted agent was refused its own live name:\n%s", text)
			}
		}
	}
	if out := s.ok("admin", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Fatal(out)
	}
}

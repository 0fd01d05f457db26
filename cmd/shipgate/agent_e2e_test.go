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
			waitUntil(t, "the long job to run", func() bool {
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

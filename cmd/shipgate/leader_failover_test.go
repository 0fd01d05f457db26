package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
)

// failoverService fails a release whose input ok is not yes; the policy
// then rolls it back after a delay, which is the reconciler loop's work:
// the leader's.
const failoverService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: prod
      rollback: {enabled: true, check_target: pipeline, delay_seconds: %[1]d}
    - name: stage
      rollback: {enabled: true, check_target: pipeline, delay_seconds: %[1]d}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: test "$SHIPGATE_INPUT_OK" = yes
`

// TestLeaderFailoverPostgres runs two servers on one PostgreSQL database,
// leaves the leader with pending work (two rollbacks waiting out their
// delay), kills it with SIGKILL, and checks that the other server takes
// the lease within its TTL (plus a margin) and finishes that work, and
// that nothing happened twice: each once-per-release audit event appears
// exactly once, and the audit chain verifies.
func TestLeaderFailoverPostgres(t *testing.T) {
	pg := testutil.RequirePostgres(t)
	const ttl = 2 * time.Second
	const token = "sgp_failover-test-admin-token"
	shared := t.TempDir()
	args := []string{"--database", pg.NewDatabase(t), "--no-local-runner", "--leader-ttl", ttl.String(),
		"--artifact-store", filepath.Join(shared, "artifacts")}
	env := []string{"SHIPGATE_BOOTSTRAP_TOKEN=" + token,
		"SHIPGATE_SECRET_KEY=" + strings.Repeat("5e", 32), "SHIPGATE_AUDIT_KEY=" + strings.Repeat("a7", 32)}
	servers := []*server{startServerWith(t, args, env...), startServerWith(t, args, env...)}
	for _, s := range servers {
		s.tokens["admin"] = token
		os.WriteFile(filepath.Join(s.workDir, "web.tar"), []byte("web"), 0o644)
	}
	var leaderSrv, follower *server
	testutil.WaitFor(t, "exactly one of the two servers to lead", func() bool {
		a, okA := healthLeader(servers[0].direct)
		b, okB := healthLeader(servers[1].direct)
		if !okA || !okB || a == b {
			return false
		}
		leaderSrv, follower = servers[0], servers[1]
		if b {
			leaderSrv, follower = servers[1], servers[0]
		}
		return true
	})

	// Everything goes through the follower, which survives; so does the
	// agent that runs the jobs.
	join := strings.TrimSpace(follower.ok("admin", "agent", "token", "create"))
	follower.startAgent("failover-agent", "role=any", join)
	f := filepath.Join(follower.workDir, "web.yaml")
	// The delay leaves the rollbacks pending long past the kill below.
	os.WriteFile(f, []byte(fmt.Sprintf(failoverService, 8)), 0o644)
	follower.ok("admin", "apply", "-f", f)
	var bad []int64
	for _, envName := range []string{"prod", "stage"} {
		good := follower.create("admin", "web", "--env", envName, "--version", "1.1", "--artifact", "web.tar", "--input", "ok=yes")
		follower.ok("admin", "release", "wait", fmt.Sprint(good.ID))
		r := follower.create("admin", "web", "--env", envName, "--version", "1.2", "--artifact", "web.tar", "--input", "ok=no")
		bad = append(bad, r.ID)
	}
	for _, id := range bad {
		testutil.WaitFor(t, fmt.Sprintf("release %d's rollback to be pending", id), func() bool {
			return rollbackState(follower, id) == "pending"
		})
	}

	leaderSrv.cmd.Process.Signal(syscall.SIGKILL)
	leaderSrv.cmd.Wait()
	// The rollbacks were still waiting when the leader died: the work
	// left to do is the survivor's.
	for _, id := range bad {
		if st := rollbackState(follower, id); st != "pending" {
			t.Fatalf("release %d's rollback is %q right after the kill; the test needs it pending (slow machine?)", id, st)
		}
	}
	testutil.WaitForWithin(t, ttl+15*time.Second, "the surviving server to lead within the lease TTL (plus a margin)", func() bool {
		leads, _ := healthLeader(follower.direct)
		return leads
	})
	for _, id := range bad {
		testutil.WaitFor(t, fmt.Sprintf("release %d to be rolled back by the new leader", id), func() bool {
			return follower.show(id).State == "rolled_back"
		})
	}

	var events []struct {
		Action, Subject string
		Details         map[string]any
	}
	follower.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	once := map[string]bool{"release.created": true, "release.queued": true, "release.started": true, "release.succeeded": true,
		"release.failed": true, "rollback.pending": true, "rollback.fired": true, "release.rolled_back": true}
	count := map[string]int{}
	totals := map[string]int{}
	var terms []float64
	for _, e := range events {
		if once[e.Action] {
			count[e.Action+" "+e.Subject]++
			totals[e.Action]++
		}
		if e.Action == "leader.acquired" {
			terms = append(terms, e.Details["term"].(float64))
		}
		if e.Action == "leader.resigned" {
			t.Errorf("a resignation was audited, but the leader was killed: %v", e.Details)
		}
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s: %d events, want exactly 1", k, n)
		}
	}
	// Two good releases, two bad ones and their two rollback releases.
	if totals["release.created"] != 6 || totals["rollback.fired"] != 2 || totals["release.rolled_back"] != 2 || totals["release.succeeded"] != 4 {
		t.Errorf("event totals %v; want 6 releases, 2 rollbacks fired, 2 releases rolled back, 4 succeeded", totals)
	}
	if len(terms) < 2 {
		t.Errorf("leader tenures %v; want the first leader's and the survivor's", terms)
	}
	for i := 1; i < len(terms); i++ {
		if terms[i] <= terms[i-1] {
			t.Errorf("leader terms %v do not increase", terms)
		}
	}
	follower.ok("admin", "audit", "verify")
	follower.mu.Lock()
	defer follower.mu.Unlock()
	if !strings.Contains(follower.stderr.String(), "this server leads") {
		t.Errorf("the survivor's log does not say it took the lead:\n%s", follower.stderr.String())
	}
}

func rollbackState(s *server, id int64) string {
	s.t.Helper()
	var r struct {
		Rollback *struct {
			State string `json:"state"`
		} `json:"rollback"`
	}
	out := s.ok("admin", "release", "show", fmt.Sprint(id), "-o", "json")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		s.t.Fatalf("release show: %v\n%s", err, out)
	}
	if r.Rollback == nil {
		return ""
	}
	return r.Rollback.State
}

// TestLeaderRestartPostgres: a server killed and restarted on the same
// --data takes its own lease back at once. The TTL here is ten minutes,
// far beyond the wait, so only that rule can make it lead again.
func TestLeaderRestartPostgres(t *testing.T) {
	pg := testutil.RequirePostgres(t)
	const token = "sgp_leader-restart-admin-token"
	s := startServerWith(t, []string{"--database", pg.NewDatabase(t), "--no-local-runner", "--leader-ttl", "10m"}, "SHIPGATE_BOOTSTRAP_TOKEN="+token)
	s.tokens["admin"] = token
	testutil.WaitFor(t, "the server to lead", func() bool { leads, _ := healthLeader(s.direct); return leads })
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	s.start()
	testutil.WaitFor(t, "the restarted server to lead again", func() bool { leads, _ := healthLeader(s.direct); return leads })
	var events []struct {
		Action  string
		Details map[string]any
	}
	s.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	var tenures []string
	for _, e := range events {
		if e.Action == "leader.acquired" {
			tenures = append(tenures, fmt.Sprintf("term %v restarted %v", e.Details["term"], e.Details["previous_holder_restarted"]))
		}
	}
	if want := "[term 1 restarted <nil> term 2 restarted true]"; fmt.Sprint(tenures) != want {
		t.Fatalf("tenures %v, want %s", tenures, want)
	}
	s.ok("admin", "audit", "verify")
}

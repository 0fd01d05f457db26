package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

// canaryService is the demo app as a supervised service on agents with
// role=web, moved by a canary: a manual pause at weight 0 (so a pinned
// request can try the canary first), then 10% with a blocking sequential
// analysis, 50% for a moment, with a background sequential analysis
// watching every step. An aborted rollout fails the rollout job, which is
// the rollback policy's check_target.
func canaryService(bin, listen string, analysisFor time.Duration) string {
	return demo.AppService("shop", bin, listen, "{ role: web }", "5m", fmt.Sprintf(`canary:
  steps:
    - set_weight: 0
    - pause: {}
    - set_weight: 10
    - analysis:
        sequential: { duration: %s }
    - set_weight: 50
    - pause: 5s
  background_analysis:
    sequential: {}`, analysisFor))
}

type rolloutJSON struct {
	State    string `json:"state"`
	Rollouts []struct {
		Job             string `json:"job"`
		PromotedThrough int    `json:"promoted_through"`
		Status          struct {
			Phase         string `json:"phase"`
			Step          int    `json:"step"`
			Weight        int    `json:"weight"`
			Paused        string `json:"paused"`
			StableVersion string `json:"stable_version"`
			CanaryVersion string `json:"canary_version"`
			Decisions     []struct {
				Judge, Phase, Summary string
				Evidence              map[string]any
			} `json:"decisions"`
		} `json:"status"`
	} `json:"rollouts"`
	Rollback *struct {
		State           string `json:"state"`
		RollbackRelease int64  `json:"rollback_release"`
	} `json:"rollback"`
	Timeline []struct {
		Actor, Action string
		Details       map[string]any
	} `json:"timeline"`
}

func (s *server) rollout(id int64) rolloutJSON {
	s.t.Helper()
	var r rolloutJSON
	s.jsonOut(&r, "admin", "release", "show", fmt.Sprint(id))
	return r
}

func (r rolloutJSON) phase() (string, int) {
	if len(r.Rollouts) == 0 {
		return "", -1
	}
	return r.Rollouts[len(r.Rollouts)-1].Status.Phase, r.Rollouts[len(r.Rollouts)-1].Status.Step
}

// get fetches url, optionally pinned to a version with the header, and
// returns the body.
func get(t *testing.T, url, pin string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	if pin != "" {
		req.Header.Set("X-Shipgate-Version", pin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// canaryFixture is a server without a built-in runner, one real agent
// (role=web) and the shop service applied.
type canaryFixture struct {
	s     *server
	front string
}

func newCanaryFixture(t testing.TB, analysisFor time.Duration) *canaryFixture {
	front := freeAddr(t)
	return newCanaryFixtureWith(t, front, canaryService(binary, front, analysisFor))
}

func newCanaryFixtureWith(t testing.TB, front, service string) *canaryFixture {
	s := startServerWith(t, []string{"--no-local-runner"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "web-hosts"))
	s.startAgent("web-1", "role=web", join, "--stop-services-on-exit", "--shutdown-grace", "5s")
	f := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(f, []byte(service), 0o644)
	s.ok("admin", "apply", "-f", f)
	for v, conf := range map[string]string{"1.0": "version=1.0\n", "2.0": "version=2.0\n", "3.0": "version=3.0\nerror_rate=0.5\n"} {
		os.WriteFile(filepath.Join(s.workDir, "shop-"+v+".conf"), []byte(conf), 0o644)
	}
	return &canaryFixture{s: s, front: "http://" + front + "/"}
}

func (f *canaryFixture) release(version string) int64 {
	return f.s.create("admin", "shop", "--env", "production", "--version", version, "--artifact", "shop-"+version+".conf").ID
}

// TestCanaryEndToEnd runs canaries of the demo app through a real agent:
// the first version takes all traffic; a healthy 2.0 waits at a manual
// pause (where a pinned request already reaches it at weight 0) until a
// deployer promotes it, passes the sequential analysis and is promoted;
// a broken 3.0 (half its answers are 500s) is aborted by the sequential
// judge — traffic back on 2.0 before the rollback release starts — and
// rolled back by policy.
func TestCanaryEndToEnd(t *testing.T) {
	f := newCanaryFixture(t, 8*time.Second)
	s := f.s
	s.ok("admin", "user", "create", "vera", "--role", "viewer")
	s.ok("admin", "user", "create", "dan", "--role", "deployer")
	for _, u := range []string{"vera", "dan"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}

	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	if got := get(t, f.front, ""); got != "hello from demo-app 1.0\n" {
		t.Fatalf("1.0 answers %q", got)
	}
	l := demo.StartLoad(f.front, 4, 10*time.Millisecond)
	defer l.End()

	t.Run("healthy canary waits for promote, then is promoted", func(t *testing.T) {
		v2 := f.release("2.0")
		testutil.WaitFor(t, "2.0 to pause for a person", func() bool {
			p, step := s.rollout(v2).phase()
			return p == "paused" && step == 2 // the pause: {} step
		})
		// At weight 0 only a pinned request reaches the canary.
		if got := get(t, f.front, "canary"); got != "hello from demo-app 2.0\n" {
			t.Fatalf("a request pinned to the canary at weight 0 got %q", got)
		}
		pausedAt := time.Now()
		if got := get(t, f.front, ""); got != "hello from demo-app 1.0\n" {
			t.Fatalf("an unpinned request at weight 0 got %q", got)
		}
		s.fails("forbidden", "vera", "promote", fmt.Sprint(v2))
		// It waits for as long as nobody promotes.
		testutil.WaitFor(t, "some traffic while paused", func() bool { return len(l.Since(pausedAt)) >= 50 })
		for _, r := range l.Since(pausedAt) {
			if r.Version != "1.0" {
				t.Fatalf("while paused at weight 0 a request was served by %q", r.Version)
			}
		}
		if p, _ := s.rollout(v2).phase(); p != "paused" {
			t.Fatalf("the rollout did not wait for promote: %s", p)
		}
		s.ok("dan", "promote", fmt.Sprint(v2))
		s.ok("admin", "release", "wait", fmt.Sprint(v2))
		got := s.rollout(v2)
		if got.State != "succeeded" {
			t.Fatalf("2.0 ended %s", got.State)
		}
		if p, _ := got.phase(); p != "promoted" {
			t.Fatalf("2.0's rollout ended %s", p)
		}
		for i := 0; i < 20; i++ {
			if b := get(t, f.front, ""); b != "hello from demo-app 2.0\n" {
				t.Fatalf("after the promotion the front answers %q", b)
			}
		}
		var actions []string
		for _, e := range got.Timeline {
			if strings.HasPrefix(e.Action, "rollout.") {
				actions = append(actions, e.Actor+":"+e.Action)
			}
		}
		joined := strings.Join(actions, " ")
		for _, want := range []string{"rollout.paused", "dan:rollout.promoted", "rollout.step", "rollout.completed"} {
			if !strings.Contains(joined, want) {
				t.Errorf("the timeline lacks %s: %s", want, joined)
			}
		}
	})

	t.Run("broken canary is aborted by the judge and rolled back", func(t *testing.T) {
		v3 := f.release("3.0")
		testutil.WaitFor(t, "3.0 to pause for a person", func() bool {
			p, step := s.rollout(v3).phase()
			return p == "paused" && step == 2 // the pause: {} step
		})
		promoted := time.Now()
		s.ok("dan", "promote", fmt.Sprint(v3))
		var got rolloutJSON
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("logs of release %d:\n%s", v3, s.run("admin", "release", "logs", fmt.Sprint(v3)).stdout)
			}
		})
		testutil.WaitFor(t, "3.0 to be rolled back", func() bool {
			got = s.rollout(v3)
			return got.State == "rolled_back"
		})
		if p, _ := got.phase(); p != "aborted" {
			t.Fatalf("3.0's rollout ended %s", p)
		}
		// The judge's decision explains itself and keeps its evidence.
		st := got.Rollouts[len(got.Rollouts)-1].Status
		var failed bool
		for _, d := range st.Decisions {
			if d.Judge == "sequential" && d.Phase == "failed" {
				failed = true
				if !strings.Contains(d.Summary, "errors are disproportionate") || d.Evidence["e_errors"] == nil {
					t.Errorf("decision: %+v", d)
				}
			}
		}
		if !failed {
			t.Fatalf("no failed sequential decision: %+v", st.Decisions)
		}
		if got.Rollback == nil || got.Rollback.RollbackRelease == 0 {
			t.Fatalf("no rollback release: %+v", got.Rollback)
		}
		rb := s.rollout(got.Rollback.RollbackRelease)
		if rb.State != "succeeded" {
			t.Fatalf("rollback release ended %s", rb.State)
		}
		// Traffic was back on 2.0 before the rollback release existed: the
		// abort itself restored it.
		var abortedAt, fired bool
		for _, e := range got.Timeline {
			switch e.Action {
			case "rollout.aborted":
				abortedAt = true
			case "rollback.fired":
				fired = true
				if !abortedAt {
					t.Fatal("the rollback fired before the rollout was aborted")
				}
			}
		}
		if !fired {
			t.Fatal("no rollback.fired in the timeline")
		}
		for i := 0; i < 20; i++ {
			if b := get(t, f.front, ""); b != "hello from demo-app 2.0\n" {
				t.Fatalf("after the rollback the front answers %q", b)
			}
		}
		recs := l.Since(promoted)
		var firstBad, lastCanary time.Time
		for _, r := range recs {
			if r.Version == "3.0" {
				if r.Status >= 500 && firstBad.IsZero() {
					firstBad = r.At
				}
				lastCanary = r.At
			}
		}
		if firstBad.IsZero() {
			t.Fatal("the load never met the broken canary")
		}
		t.Logf("first bad response → last response from 3.0: %s", lastCanary.Sub(firstBad).Round(time.Millisecond))
		show := s.ok("admin", "release", "show", fmt.Sprint(v3))
		if !strings.Contains(show, "aborted") || !strings.Contains(show, "disproportionate") {
			t.Errorf("release show does not explain the abort:\n%s", show)
		}
		if out := s.ok("admin", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
			t.Fatal(out)
		}
	})
}

// TestServiceJobsStayOnTheirAgent: with two agents that both match
// runs_on, every rollout of a service runs on the agent that runs it —
// the one with its stable version and router — until that agent is
// drained; then the other takes over and starts the service afresh.
func TestServiceJobsStayOnTheirAgent(t *testing.T) {
	front := freeAddr(t)
	svc := demo.AppService("shop", binary, front, "{ role: web }", "", `canary:
  steps:
    - set_weight: 50`)
	s := startServerWith(t, []string{"--no-local-runner"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "web-hosts"))
	agents := map[string]*agentProc{
		"web-1": s.startAgent("web-1", "role=web", join, "--stop-services-on-exit", "--shutdown-grace", "5s"),
		"web-2": s.startAgent("web-2", "role=web", join, "--stop-services-on-exit", "--shutdown-grace", "5s"),
	}
	f := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(f, []byte(svc), 0o644)
	s.ok("admin", "apply", "-f", f)
	for _, v := range []string{"1.0", "2.0", "3.0", "4.0"} {
		os.WriteFile(filepath.Join(s.workDir, "shop-"+v+".conf"), []byte("version="+v+"\n"), 0o644)
	}
	deploy := func(v string) string {
		id := s.create("admin", "shop", "--env", "production", "--version", v, "--artifact", "shop-"+v+".conf").ID
		s.ok("admin", "release", "wait", fmt.Sprint(id))
		return s.showJobs(id).Jobs[0].Runner
	}
	// After each release its agent claims again and queues behind the
	// other one: without affinity the next rollout would go there.
	home := deploy("1.0")
	other := map[string]string{"web-1": "web-2", "web-2": "web-1"}[home]
	for _, v := range []string{"2.0", "3.0"} {
		if got := deploy(v); got != home {
			t.Fatalf("%s ran on %s, not on %s which runs the service", v, got, home)
		}
		if b := get(t, "http://"+front+"/", ""); b != "hello from demo-app "+v+"\n" {
			t.Fatalf("after %s the front answers %q", v, b)
		}
	}
	// Both agents are on this one machine, so web-2 can only bind the
	// front address once web-1 has stopped its router and services.
	s.ok("admin", "agent", "drain", home)
	agents[home].cmd.Process.Signal(syscall.SIGTERM)
	agents[home].cmd.Wait()
	if got := deploy("4.0"); got != other {
		t.Fatalf("with %s drained, 4.0 ran on %s", home, got)
	}
	if b := get(t, "http://"+front+"/", ""); b != "hello from demo-app 4.0\n" {
		t.Fatalf("after the takeover the front answers %q", b)
	}
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

type rollbackView struct {
	ID       int64  `json:"id"`
	State    string `json:"state"`
	Rollback *struct {
		State           string `json:"state"`
		RollbackRelease int64  `json:"rollback_release"`
	} `json:"rollback"`
	Probes []struct {
		Job    string `json:"job"`
		Probes []struct {
			Seq   int64 `json:"seq"`
			OK    bool  `json:"ok"`
			Watch bool  `json:"watch"`
		} `json:"probes"`
	} `json:"probes"`
	Timeline []struct {
		Seq           int64
		At            time.Time
		Actor, Action string
		Subject       string
	} `json:"timeline"`
}

// TestRollbackEndToEnd deploys the demo app with real processes: v1 healthy,
// v2 with a broken health endpoint. The gate fails after exactly fail_after
// probes, the rollback waits delay_seconds, a rollback release linked to v2
// runs, and v1 answers again on the same port; the timeline tells it all
// in order, with actors.
func TestRollbackEndToEnd(t *testing.T) {
	const delay = 2
	s := startServer(t, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_rollback-e2e-admin-token")
	s.tokens["admin"] = "sgp_rollback-e2e-admin-token"
	port, err := demo.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	appDir := t.TempDir()
	t.Cleanup(func() { demo.StopApp(appDir) })
	f := filepath.Join(s.workDir, "demo.yaml")
	os.WriteFile(f, []byte(demo.Service(binary, appDir, port, delay)), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "v1.conf"), []byte("version=1.0\n"), 0o644)
	os.WriteFile(filepath.Join(s.workDir, "v2.conf"), []byte("version=2.0\nbroken_health=true\n"), 0o644)
	app := fmt.Sprintf("http://127.0.0.1:%d/", port)

	v1 := s.create("admin", "demo", "--env", "production", "--version", "1.0", "--artifact", "v1.conf")
	s.ok("admin", "release", "wait", fmt.Sprint(v1.ID))
	if got := demo.Fetch(app); got != "hello from demo-app 1.0\n" {
		t.Fatalf("v1 answers %q", got)
	}

	v2 := s.create("admin", "demo", "--env", "production", "--version", "2.0", "--artifact", "v2.conf")
	var got rollbackView
	testutil.WaitFor(t, "v2 to be rolled back", func() bool {
		s.jsonOut(&got, "admin", "release", "show", fmt.Sprint(v2.ID))
		return got.State == "rolled_back"
	})
	if answer := demo.Fetch(app); answer != "hello from demo-app 1.0\n" {
		t.Fatalf("after the rollback the app answers %q", answer)
	}
	// The gate failed after exactly fail_after (3) probes, all failing.
	var gate []bool
	for _, jp := range got.Probes {
		for _, p := range jp.Probes {
			if jp.Job == "health" && !p.Watch {
				gate = append(gate, p.OK)
			}
		}
	}
	if len(gate) != 3 || gate[0] || gate[1] || gate[2] {
		t.Fatalf("gate probes before failing: %v, want 3 failures", gate)
	}
	if got.Rollback == nil || got.Rollback.State != "done" || got.Rollback.RollbackRelease == 0 {
		t.Fatalf("rollback %+v", got.Rollback)
	}
	var rr releaseJSON
	s.jsonOut(&rr, "admin", "release", "show", fmt.Sprint(got.Rollback.RollbackRelease))
	if rr.State != "succeeded" {
		t.Fatalf("rollback release %s", rr.State)
	}
	var kind struct {
		Kind        string `json:"kind"`
		RollbackOf  int64  `json:"rollback_of"`
		TriggeredBy string `json:"triggered_by"`
		Version     string `json:"version"`
	}
	s.jsonOut(&kind, "admin", "release", "show", fmt.Sprint(rr.ID))
	if kind.Kind != "rollback" || kind.RollbackOf != v2.ID || kind.TriggeredBy != "policy" || kind.Version != "1.0" {
		t.Fatalf("rollback release: %+v", kind)
	}
	// One timeline, in order, with actors.
	var seq []string
	var pendingAt, firedAt time.Time
	for i, e := range got.Timeline {
		if i > 0 && e.Seq <= got.Timeline[i-1].Seq {
			t.Fatalf("timeline out of order at %d", e.Seq)
		}
		seq = append(seq, e.Actor+":"+e.Action)
		switch e.Action {
		case "rollback.pending":
			pendingAt = e.At
		case "rollback.fired":
			firedAt = e.At
		}
	}
	want := []string{"admin:release.created", "system:release.queued", "system:release.started", "system:job.started", "system:job.finished",
		"system:job.started", "system:job.finished", "system:release.failed", "system:rollback.pending", "system:rollback.fired",
		"system:release.created", "system:release.queued", "system:release.started", "system:job.started", "system:job.finished",
		"system:job.started", "system:job.finished", "system:release.succeeded", "system:release.rolled_back"}
	if strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Fatalf("timeline:\n got %s\nwant %s", strings.Join(seq, " "), strings.Join(want, " "))
	}
	if d := firedAt.Sub(pendingAt); d < delay*time.Second {
		t.Fatalf("the rollback fired %s after it became pending; delay_seconds is %d", d, delay)
	}
	if out := s.ok("admin", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Fatal(out)
	}
	// The human view shows the same story.
	show := s.ok("admin", "release", "show", fmt.Sprint(v2.ID))
	for _, want := range []string{"rolled_back", "rolled back to version 1.0", "probes of health", "unhealthy", "rollback.pending"} {
		if !strings.Contains(show, want) {
			t.Errorf("release show lacks %q:\n%s", want, show)
		}
	}
}

// TestRollbackCommands covers the CLI around rollbacks: nothing to roll
// back to, hold and now, and a manual rollback.
func TestRollbackCommands(t *testing.T) {
	s := startServer(t, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_rollback-cmd-admin-token")
	s.tokens["admin"] = "sgp_rollback-cmd-admin-token"
	svc := `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: prod
      rollback: {enabled: true, check_target: pipeline, delay_seconds: 600}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: test "$SHIPGATE_INPUT_OK" = yes
`
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(svc), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
	deploy := func(version, ok string) int64 {
		r := s.create("admin", "web", "--env", "prod", "--version", version, "--artifact", "a.tar", "--input", "ok="+ok)
		s.run("admin", "release", "wait", fmt.Sprint(r.ID))
		return r.ID
	}
	first := deploy("1.0", "no")
	if out := s.ok("admin", "release", "show", fmt.Sprint(first)); !strings.Contains(out, "nothing to roll back to: no earlier release of web succeeded in prod") {
		t.Fatalf("first failure:\n%s", out)
	}
	deploy("1.1", "yes")
	bad := deploy("1.2", "no")
	if out := s.ok("admin", "release", "show", fmt.Sprint(bad)); !strings.Contains(out, "rollback to version 1.1") || !strings.Contains(out, "pending: fires in") {
		t.Fatalf("pending rollback:\n%s", out)
	}
	s.ok("admin", "rollback", "hold", fmt.Sprint(bad), "--reason", "checking the dashboards first")
	if out := s.ok("admin", "release", "show", fmt.Sprint(bad)); !strings.Contains(out, "held by admin: checking the dashboards first") {
		t.Fatalf("held:\n%s", out)
	}
	s.fails("not pending", "admin", "rollback", "hold", fmt.Sprint(bad))
	s.ok("admin", "rollback", "now", fmt.Sprint(bad), "--reason", "dashboards say broken")
	testutil.WaitFor(t, "the rollback to finish", func() bool { return s.show(bad).State == "rolled_back" })
	// By hand: with 1.3 deployed, roll back to the last good one before it
	// (1.1, restored by the rollback release); 1.0 never succeeded, so it is
	// nothing to roll back to.
	deploy("1.3", "yes")
	out := s.ok("admin", "rollback", "web", "--env", "prod")
	if !strings.Contains(out, "restores web 1.1 in prod") {
		t.Fatalf("manual rollback: %s", out)
	}
	var list []releaseJSON
	s.jsonOut(&list, "admin", "release", "list", "--limit", "1")
	s.ok("admin", "release", "wait", fmt.Sprint(list[0].ID))
	s.fails("nothing to roll back to: 1.0 never succeeded in prod; deploy it with `shipgate release create`", "admin", "rollback", "web", "--env", "prod", "--to", "1.0")
	var events []struct {
		Actor, Action string
		Details       map[string]any
	}
	s.jsonOut(&events, "admin", "audit", "list", "--release", fmt.Sprint(bad), "--limit", "0")
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Actor+":"+e.Action)
		// Fired by `rollback now`, the rollback is the person's, with
		// their reason and the hold's.
		if e.Action == "rollback.fired" && (e.Details["requested_by"] != "admin" || e.Details["reason"] != "dashboards say broken" ||
			e.Details["hold_reason"] != "checking the dashboards first") {
			t.Fatalf("rollback.fired details %v", e.Details)
		}
	}
	if !strings.Contains(strings.Join(actions, " "), "system:rollback.pending admin:rollback.held admin:rollback.now admin:rollback.fired") {
		t.Fatalf("audit: %v", actions)
	}
	var rolled struct {
		Rollback struct {
			RollbackRelease int64  `json:"rollback_release"`
			RequestedBy     string `json:"requested_by"`
			HeldBy          string `json:"held_by"`
		} `json:"rollback"`
	}
	s.jsonOut(&rolled, "admin", "release", "show", fmt.Sprint(bad))
	if rolled.Rollback.RequestedBy != "admin" || rolled.Rollback.HeldBy != "admin" {
		t.Fatalf("rollback record %+v", rolled.Rollback)
	}
	var rr struct {
		CreatedBy string `json:"created_by"`
	}
	s.jsonOut(&rr, "admin", "release", "show", fmt.Sprint(rolled.Rollback.RollbackRelease))
	if rr.CreatedBy != "admin" {
		t.Fatalf("the rollback release fired by `rollback now` was created by %q", rr.CreatedBy)
	}
}

// TestDemo runs `shipgate demo --exit` as a user would and checks it shows
// the rollback, then the canary judged bad with traffic back on 1.0 before
// the rollback release started, and exits 0.
func TestDemo(t *testing.T) {
	cmd := exec.Command(binary, "demo", "--exit", "--delay", "2", "--dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("shipgate demo --exit: %v\n%s", err, out)
	}
	for _, want := range []string{"health probe 3: UNHEALTHY", "pending: fires in", "rollback release", "hello from demo-app 1.0", "audit verify: chain OK", "is rolled_back",
		"act 2: a canary", "canary 2.0 at 10%", "errors are disproportionate", "traffic returned to 1.0 before the rollback release started"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// TestRollbackBypassesWindowsAndCanary rolls a canary service back by hand
// through a real agent, after the deploy window has closed: the rollback
// release starts at once (saying why), deploys 1.0 directly — no manual
// pause although the strategy has one, no judge of 1.0 against 2.0 — and
// 1.0 serves again. The reason given is in the timeline.
// pausedCanary is a canary strategy with everything a rollback must not
// go through: a manual pause, a step analysis and a background judge.
const pausedCanary = `canary:
  steps:
    - set_weight: 20
    - pause: {}
    - analysis:
        sequential: { duration: 1s }
  background_analysis:
    sequential: {}`

func TestRollbackBypassesWindowsAndCanary(t *testing.T) {
	front := freeAddr(t)
	svc := demo.AppService("shop", binary, front, "{ role: web }", "5m", pausedCanary)
	f := newCanaryFixtureWith(t, front, svc)
	s := f.s
	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	v2 := f.release("2.0")
	testutil.WaitFor(t, "2.0 to pause for a person", func() bool { p, _ := s.rollout(v2).phase(); return p == "paused" })
	s.ok("admin", "promote", fmt.Sprint(v2))
	s.ok("admin", "release", "wait", fmt.Sprint(v2))
	if got := get(t, f.front, ""); got != "hello from demo-app 2.0\n" {
		t.Fatalf("2.0 answers %q", got)
	}

	// The window closes: the only one left opens two days from now.
	day := strings.ToLower(time.Now().UTC().AddDate(0, 0, 2).Weekday().String()[:3])
	closed := strings.Replace(svc, "      approvals: { required: 0 }\n",
		"      approvals: { required: 0 }\n      windows: [{ days: ["+day+`], start: "00:00", end: "00:01" }]`+"\n", 1)
	file := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(file, []byte(closed), 0o644)
	s.ok("admin", "apply", "-f", file)
	// A new version waits for the window…
	v3 := f.release("3.0")
	if r := s.show(v3); r.State != "queued" || !strings.Contains(r.Reason, "waiting for the deploy window") {
		t.Fatalf("3.0 is %s %q, want queued for the window", r.State, r.Reason)
	}
	s.ok("admin", "cancel", fmt.Sprint(v3), "--reason", "not today")

	// …a rollback does not.
	var rr rolloutJSON
	var created struct {
		ID    int64  `json:"id"`
		State string `json:"state"`
	}
	s.jsonOut(&created, "admin", "rollback", "shop", "--env", "production", "--reason", "2.0 is slow at checkout")
	if created.State != "running" {
		t.Fatalf("the rollback release is %s, want running at once outside the window", created.State)
	}
	s.ok("admin", "release", "wait", fmt.Sprint(created.ID))
	rr = s.rollout(created.ID)
	if rr.State != "succeeded" {
		t.Fatalf("rollback release ended %s", rr.State)
	}
	for i := 0; i < 10; i++ {
		if got := get(t, f.front, ""); got != "hello from demo-app 1.0\n" {
			t.Fatalf("after the rollback the front answers %q", got)
		}
	}
	var startedNote any
	for _, e := range rr.Timeline {
		switch e.Action {
		case "rollout.paused", "analysis.judged", "rollout.promoted":
			t.Fatalf("the rollback release was paused or judged: %s %v", e.Action, e.Details)
		case "release.started":
			startedNote = e.Details["window"]
		}
	}
	if startedNote != "started outside the deploy window because it is a rollback" {
		t.Fatalf("release.started says %v", startedNote)
	}
	if st := rr.Rollouts[len(rr.Rollouts)-1].Status; st.Phase != "promoted" || len(st.Decisions) != 0 {
		t.Fatalf("rollback rollout: %+v", st)
	}
	show := s.ok("admin", "release", "show", fmt.Sprint(created.ID))
	for _, want := range []string{"rollout:   rollout: all traffic at once, no analysis, no pause for promote", "2.0 is slow at checkout"} {
		if !strings.Contains(show, want) {
			t.Errorf("release show lacks %q:\n%s", want, show)
		}
	}
	if got := s.show(v2); got.State != "rolled_back" {
		t.Fatalf("2.0 ended %s", got.State)
	}
}

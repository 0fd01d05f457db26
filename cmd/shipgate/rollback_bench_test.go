package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

// BenchmarkRollback measures, with the demo service and delay_seconds: 0,
// on the built server with its local runner and the real demo app:
//   - first-failing-probe → rollback release's first step (job start);
//   - gate failed (the release failed) → rollback release's first step;
//   - first failing probe → v1 answering again on its port.
//
// It runs 10 bad deploys one after another and reports medians. The demo
// gate probes every 1s and fails after 3 failures, so about 2 s of the first
// figure is the gate doing its job, not the platform.
func BenchmarkRollback(b *testing.B) {
	for b.Loop() {
		benchRollback(b)
	}
}

func benchRollback(b *testing.B) {
	s := startServerWith(b, nil, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_rollback-bench-admin-token")
	s.tokens["admin"] = "sgp_rollback-bench-admin-token"
	port, err := demo.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	appDir := b.TempDir()
	b.Cleanup(func() { demo.StopApp(appDir) })
	f := filepath.Join(s.workDir, "demo.yaml")
	os.WriteFile(f, []byte(demo.Service(binary, appDir, port, 0)), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "v1.conf"), []byte("version=1.0\n"), 0o644)
	os.WriteFile(filepath.Join(s.workDir, "v2.conf"), []byte("version=2.0\nbroken_health=true\n"), 0o644)
	app := fmt.Sprintf("http://127.0.0.1:%d/", port)
	v1 := s.create("admin", "demo", "--env", "production", "--version", "1.0", "--artifact", "v1.conf")
	s.ok("admin", "release", "wait", fmt.Sprint(v1.ID))

	var toStep, failToStep, toServing []time.Duration
	for run := 0; run < 10; run++ {
		v2 := s.create("admin", "demo", "--env", "production", "--version", fmt.Sprintf("2.0-%d", run), "--artifact", "v2.conf")
		// Wait for v2 to be serving (its deploy step done), then watch for
		// v1 to come back.
		for !strings.Contains(demo.Fetch(app), "2.0") {
		}
		var back time.Time
		for {
			if strings.Contains(demo.Fetch(app), "1.0") {
				back = time.Now()
				break
			}
		}
		var v rollbackView
		s.jsonOut(&v, "admin", "release", "show", fmt.Sprint(v2.ID))
		var firstFail, failed, started time.Time
		for _, e := range v.Timeline {
			switch {
			case e.Action == "release.failed" && e.Subject == fmt.Sprintf("release/%d", v2.ID):
				failed = e.At
			case e.Action == "job.started" && e.Subject != fmt.Sprintf("release/%d", v2.ID) && started.IsZero():
				started = e.At
			}
		}
		firstFail = s.firstFailingProbe(v2.ID)
		if firstFail.IsZero() || failed.IsZero() || started.IsZero() {
			b.Fatalf("run %d: missing times: first fail %v, failed %v, rollback started %v", run, firstFail, failed, started)
		}
		toStep = append(toStep, started.Sub(firstFail))
		failToStep = append(failToStep, started.Sub(failed))
		toServing = append(toServing, back.Sub(firstFail))
		testutil.WaitFor(b, "2.0 to be rolled back", func() bool { return s.show(v2.ID).State == "rolled_back" })
	}
	b.ReportMetric(median(toStep).Seconds(), "s-first-fail-to-rollback-step")
	b.ReportMetric(median(failToStep).Seconds()*1000, "ms-gate-failed-to-rollback-step")
	b.ReportMetric(median(toServing).Seconds(), "s-first-fail-to-v1-serving")
}

// firstFailingProbe is when the first probe of a release's check failed.
func (s *server) firstFailingProbe(id int64) time.Time {
	var v struct {
		Probes []struct {
			Probes []struct {
				At time.Time `json:"at"`
				OK bool      `json:"ok"`
			} `json:"probes"`
		} `json:"probes"`
	}
	s.jsonOut(&v, "admin", "release", "show", fmt.Sprint(id))
	for _, jp := range v.Probes {
		for _, p := range jp.Probes {
			if !p.OK {
				return p.At
			}
		}
	}
	return time.Time{}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkManualRollbackCanary measures a manual `shipgate rollback` of a
// canary service whose strategy has a manual pause, step analysis and a
// background judge, on the built server with a real agent and the demo
// app: from the command being run to the front answering the old version
// on 20 requests in a row. Before issue 10 this rollback walked the
// canary and waited at the pause for a person (then the judge could abort
// it); now it deploys the known-good version directly. Reported per run:
//   - cmd-ms: the rollback command itself (create + answer);
//   - restored-ms: command start → 1.0 serving all traffic.
func BenchmarkManualRollbackCanary(b *testing.B) {
	var cmds, restores []time.Duration
	for b.Loop() {
		c, r := benchManualRollbackCanary(b)
		cmds, restores = append(cmds, c), append(restores, r)
	}
	b.ReportMetric(float64(median(cmds).Milliseconds()), "cmd-ms")
	b.ReportMetric(float64(median(restores).Milliseconds()), "restored-ms")
}

func benchManualRollbackCanary(b *testing.B) (cmd, restored time.Duration) {
	front := freeAddr(b)
	f := newCanaryFixtureWith(b, front, demo.AppService("shop", binary, front, "{ role: web }", "5m", pausedCanary))
	s := f.s
	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	v2 := f.release("2.0")
	testutil.WaitFor(b, "2.0 to pause", func() bool { p, _ := s.rollout(v2).phase(); return p == "paused" })
	s.ok("admin", "promote", fmt.Sprint(v2))
	s.ok("admin", "release", "wait", fmt.Sprint(v2))

	answers := func(want string) bool {
		for range 20 {
			resp, err := http.Get(f.front)
			if err != nil {
				return false
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != want {
				return false
			}
		}
		return true
	}
	start := time.Now()
	s.ok("admin", "rollback", "shop", "--env", "production", "--reason", "benchmark")
	cmd = time.Since(start)
	testutil.WaitFor(b, "the demo app to answer as 1.0", func() bool { return answers("hello from demo-app 1.0\n") })
	return cmd, time.Since(start)
}

package runner

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/router"
	"github.com/shipgate/shipgate/internal/testutil"
)

func TestRolloutFirstVersionThenSameArtifactIsStable(t *testing.T) {
	g := newRig(t)
	a := g.release("1.0", g.job(canary(setWeight(50), pause(time.Hour)), nil))
	if out := g.execute(a); !out.Succeeded || out.ExitCode == nil || *out.ExitCode != 0 {
		t.Fatalf("first version: %+v", out)
	}
	if out, ok := g.coord.outcome(a.Key); !ok || !out.Succeeded {
		t.Fatalf("reported outcome %+v (reported: %v)", out, ok)
	}
	first, ok := g.instance("1.0")
	if !ok {
		t.Fatal("1.0 does not run")
	}
	g.onlyServes(g.front(), "1.0")
	if tbl := g.svc.Router.Get(rkey); tbl.Stable == nil || tbl.Stable.ID != first.ID || tbl.Canary != nil {
		t.Fatalf("table %+v", tbl)
	}
	st, _ := g.coord.latest(a.Key)
	if st.Phase != shipgate.RolloutPromoted || st.Weight != 100 || st.Strategy != "canary" || st.CanaryVersion != "1.0" || st.StableVersion != "" {
		t.Fatalf("final status %+v", st)
	}

	again := g.release("1.0", g.job(canary(setWeight(50), pause(time.Hour)), nil))
	if out := g.execute(again); !out.Succeeded {
		t.Fatalf("same artifact again: %+v", out)
	}
	st, _ = g.coord.latest(again.Key)
	if st.Phase != shipgate.RolloutPromoted || st.Weight != 100 || st.Message != "already the stable version" {
		t.Fatalf("status of the same artifact again: %+v", st)
	}
	if in, ok := g.instance("1.0"); !ok || in.ID != first.ID || in.PID != first.PID || len(g.svc.Sup.List()) != 1 {
		t.Fatalf("instances after the same artifact again: %+v", g.svc.Sup.List())
	}
	g.onlyServes(g.front(), "1.0")
}

func TestCanaryShiftsTrafficThenPromotes(t *testing.T) {
	g := newRig(t)
	old := g.deploy("1.0", nil)
	front := g.front()

	// Observe the split: a request counts only if the table had the canary
	// at 30% both before and after it, so it was routed by the split.
	var mu sync.Mutex
	split := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				before := g.svc.Router.Get(rkey)
				v, _, err := g.get(front)
				after := g.svc.Router.Get(rkey)
				if err == nil && before.Canary != nil && after.Canary != nil && before.Weight == 30 && after.Weight == 30 {
					mu.Lock()
					split[v]++
					mu.Unlock()
				}
			}
		}()
	}
	a := g.release("2.0", g.job(canary(setWeight(30), pause(time.Second)), nil))
	out := g.execute(a)
	close(stop)
	wg.Wait()
	if !out.Succeeded {
		t.Fatalf("canary: %+v", out)
	}
	if split["1.0"] == 0 || split["2.0"] == 0 {
		t.Fatalf("at 30%% the front served %v; want both versions", split)
	}
	g.onlyServes(front, "2.0")
	if _, ok := g.svc.Sup.Get(old.ID); ok {
		t.Fatalf("the old stable still runs: %v", g.versions())
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"2.0"}) {
		t.Fatalf("running %v", vs)
	}
	if st := g.svc.get(rkey); st.Stable == "" || st.Stable == old.ID || st.Standby != "" {
		t.Fatalf("service state %+v", st)
	}

	var sawSplit, sawPause bool
	for _, s := range g.coord.statusesOf(a.Key) {
		// Reports coalesce changes: step 1 may only be seen as step 2's pause.
		sawSplit = sawSplit || (s.Phase == shipgate.RolloutProgressing && s.Weight == 30)
		sawPause = sawPause || (s.Step == 2 && s.PauseUntil != nil && s.Weight == 30)
		if s.StableVersion != "1.0" || s.CanaryVersion != "2.0" || s.Steps != 2 {
			t.Fatalf("status %+v", s)
		}
	}
	st, _ := g.coord.latest(a.Key)
	if !sawSplit || !sawPause || st.Phase != shipgate.RolloutPromoted || st.Weight != 100 {
		t.Fatalf("statuses: split %v, timed pause %v, final %+v", sawSplit, sawPause, st)
	}
	// The final report still tells what each version served during the
	// rollout, though the old one is stopped (and its counters forgotten).
	served := map[string]int64{}
	for _, vt := range st.Traffic {
		served[vt.Role+" "+vt.Version] = vt.Requests
	}
	// The router counts a request once its answer is copied, so up to one
	// request per client (3) may have reached a client and not yet been
	// counted when the old version's counters were taken.
	const inFlight = 3
	if served["stable 1.0"]+inFlight < int64(split["1.0"]) || served["canary 2.0"]+inFlight < int64(split["2.0"]) {
		t.Fatalf("final traffic %+v; the split alone served %v", st.Traffic, split)
	}
}

func TestCanaryAbortsOnFailedAnalysis(t *testing.T) {
	g := newRig(t)
	old := g.deploy("1.0", nil)
	g.drive(g.front(), 2)

	// When "aborted" reaches the server, traffic must already be back on
	// stable and the canary still running: traffic first, then the stop.
	var mu sync.Mutex
	var atAbort *router.Table
	var canaryRan bool
	g.coord.setOnStatus(func(s shipgate.RolloutStatus) {
		if s.Phase != shipgate.RolloutAborted {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if atAbort == nil {
			tbl := g.svc.Router.Get(rkey)
			atAbort = &tbl
			_, canaryRan = g.instance("2.0")
		}
	})
	metric := shipgate.AnalysisMetric{
		Name:             "canary-errors",
		Provider:         shipgate.MetricProvider{Builtin: &shipgate.BuiltinMetric{Metric: "error_rate", Version: "canary"}},
		Interval:         shipgate.Duration(time.Second),
		Count:            3,
		FailureCondition: "result > 0.2",
	}
	a := g.release("2.0", g.job(canary(setWeight(50), shipgate.CanaryStep{Analysis: &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{metric}}}), halfErrors))
	out := g.execute(a)
	if out.Succeeded || out.Cancelled || !strings.Contains(out.Reason, "canary-errors") || !strings.Contains(out.Reason, "aborted at step 2") {
		t.Fatalf("outcome %+v", out)
	}
	if rep, _ := g.coord.outcome(a.Key); rep.Reason != out.Reason {
		t.Fatalf("reported %+v", rep)
	}
	mu.Lock()
	if atAbort == nil || atAbort.Canary != nil || atAbort.Weight != 0 || atAbort.Stable == nil || atAbort.Stable.ID != old.ID {
		t.Fatalf("table when the abort was reported: %+v", atAbort)
	}
	if !canaryRan {
		t.Fatal("the canary was stopped before the abort (and its weight 0) was reported")
	}
	mu.Unlock()

	st, _ := g.coord.latest(a.Key)
	if st.Phase != shipgate.RolloutAborted || st.Weight != 0 || st.Step != 2 || !strings.Contains(st.Message, "canary-errors") {
		t.Fatalf("final status %+v", st)
	}
	var failed *shipgate.AnalysisDecision
	for _, d := range st.Decisions {
		if d.Phase == shipgate.AnalysisFailed {
			failed = &d
		}
	}
	if failed == nil || failed.Metric != "canary-errors" || failed.Judge != "threshold" || failed.Step != 2 || failed.Background {
		t.Fatalf("decisions %+v", st.Decisions)
	}
	if n, _ := failed.Evidence["failed"].(int); n < 1 || failed.Evidence["failure_condition"] != "result > 0.2" {
		t.Fatalf("evidence %+v", failed.Evidence)
	}
	var canaryTraffic shipgate.VersionTraffic
	for _, vt := range st.Traffic {
		if vt.Role == "canary" {
			canaryTraffic = vt
		}
	}
	if canaryTraffic.Version != "2.0" || canaryTraffic.Errors == 0 {
		t.Fatalf("traffic %+v", st.Traffic)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
	if tbl := g.svc.Router.Get(rkey); tbl.Canary != nil || tbl.Stable == nil || tbl.Stable.ID != old.ID {
		t.Fatalf("table %+v", tbl)
	}
	g.onlyServes(g.front(), "1.0")
}

func TestManualPauseWaitsForPromotion(t *testing.T) {
	g := newRig(t)
	g.deploy("1.0", nil)
	a := g.release("2.0", g.job(canary(setWeight(25), pause(0), setWeight(60)), nil))
	done := g.start(g.ctx, a)
	g.waitStatus(a.Key, "the manual pause", func(s shipgate.RolloutStatus) bool {
		return s.Phase == shipgate.RolloutPaused && s.Step == 2 && s.Paused == "manual pause" && s.Weight == 25
	})

	// A promotion short of this pause's number does not release it: after a few
	// reports that carried it, nothing has moved.
	g.coord.setPromoted(0)
	testutil.WaitFor(t, "reports answered with promoted_through 0", func() bool { return g.coord.repliesWith(0) >= 3 })
	select {
	case out := <-done:
		t.Fatalf("the rollout ended while paused: %+v", out)
	default:
	}
	if st, _ := g.coord.latest(a.Key); st.Phase != shipgate.RolloutPaused || st.Step != 2 || st.Weight != 25 {
		t.Fatalf("status while paused %+v", st)
	}
	if tbl := g.svc.Router.Get(rkey); tbl.Weight != 25 || tbl.Canary == nil {
		t.Fatalf("table while paused %+v", tbl)
	}

	g.coord.setPromoted(1)
	out := g.wait(done)
	if !out.Succeeded {
		t.Fatalf("after the promotion: %+v", out)
	}
	var resumed bool
	for _, s := range g.coord.statusesOf(a.Key) {
		resumed = resumed || (s.Phase == shipgate.RolloutProgressing && s.Step == 3 && s.Weight == 60)
	}
	if !resumed {
		t.Fatalf("no status of step 3 at 60%%: %+v", g.coord.statusesOf(a.Key))
	}
	g.onlyServes(g.front(), "2.0")
}

func TestBackgroundAnalysisAbortsDuringLongPause(t *testing.T) {
	g := newRig(t)
	g.deploy("1.0", nil)
	g.drive(g.front(), 2)
	s := canary(setWeight(50), pause(time.Minute))
	s.Canary.BackgroundAnalysis = &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{}}
	a := g.release("2.0", g.job(s, halfErrors))
	out := g.execute(a)
	if out.Succeeded || !strings.Contains(out.Reason, "aborted at step 2") || !strings.Contains(out.Reason, "errors are disproportionate") {
		t.Fatalf("outcome %+v", out)
	}
	st, _ := g.coord.latest(a.Key)
	if st.Phase != shipgate.RolloutAborted || st.Weight != 0 || st.Step != 2 {
		t.Fatalf("final status %+v", st)
	}
	// The background judge is not a step's analysis: it says so, and
	// names the step the rollout was at, the one the abort names.
	var bg *shipgate.AnalysisDecision
	for _, d := range st.Decisions {
		if d.Step < 0 {
			t.Fatalf("a decision numbered %d: %+v", d.Step, d)
		}
		if d.Background && d.Step == 2 && d.Phase == shipgate.AnalysisFailed {
			bg = &d
		}
	}
	if bg == nil || bg.Judge != "sequential" {
		t.Fatalf("decisions %+v", st.Decisions)
	}
	if e, _ := bg.Evidence["e_errors"].(float64); e < bg.Evidence["threshold"].(float64) {
		t.Fatalf("evidence %+v", bg.Evidence)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
	g.onlyServes(g.front(), "1.0")
}

func TestCancelDuringManualPause(t *testing.T) {
	g := newRig(t)
	old := g.deploy("1.0", nil)
	a := g.release("2.0", g.job(canary(setWeight(40), pause(0)), nil))
	done := g.start(g.ctx, a)
	g.waitStatus(a.Key, "the manual pause", func(s shipgate.RolloutStatus) bool { return s.Phase == shipgate.RolloutPaused })
	g.coord.setCancel("release cancelled by alice")
	out := g.wait(done)
	if out.Succeeded || !out.Cancelled || !strings.Contains(out.Reason, "cancelled by alice") {
		t.Fatalf("outcome %+v", out)
	}
	if rep, _ := g.coord.outcome(a.Key); !rep.Cancelled {
		t.Fatalf("reported %+v", rep)
	}
	if st, _ := g.coord.latest(a.Key); st.Phase != shipgate.RolloutAborted || st.Weight != 0 || st.Step != 2 {
		t.Fatalf("final status %+v", st)
	}
	if tbl := g.svc.Router.Get(rkey); tbl.Canary != nil || tbl.Stable == nil || tbl.Stable.ID != old.ID {
		t.Fatalf("table %+v", tbl)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
	g.onlyServes(g.front(), "1.0")
}

func TestBlueGreenPreviewSwitchStandbyAndRollback(t *testing.T) {
	g := newRig(t)
	// The analysis on the preview is an HTTP metric that answers only when
	// the test has looked at both addresses.
	gate, asked := make(chan struct{}), make(chan struct{}, 1)
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintln(w, `{"value": 0}`)
	}))
	defer metrics.Close()
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	defer open()

	bg := func(delay time.Duration, an *shipgate.Analysis) *shipgate.Strategy {
		return &shipgate.Strategy{BlueGreen: &shipgate.BlueGreenStrategy{Preview: "127.0.0.1:0", Analysis: an, ScaleDownDelay: shipgate.Duration(delay)}}
	}
	v1 := g.release("1.0", g.job(bg(time.Minute, nil), nil))
	if out := g.execute(v1); !out.Succeeded {
		t.Fatalf("first version: %+v", out)
	}
	blue, _ := g.instance("1.0")
	front := g.front()

	an := &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{{Name: "gate", SuccessCondition: "result == 0",
		Provider: shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{URL: metrics.URL, JSONPath: "value", Timeout: shipgate.Duration(time.Minute)}}}}}
	v2 := g.release("2.0", g.job(bg(time.Minute, an), nil))
	done := g.start(g.ctx, v2)
	select {
	case <-asked:
	case out := <-done:
		t.Fatalf("the blue-green rollout ended before its analysis: %+v", out)
	case <-time.After(time.Minute):
		t.Fatal("the analysis never asked")
	}
	preview := g.svc.Router.PreviewAddr(rkey)
	if preview == "" || preview == front {
		t.Fatalf("preview %q, front %q", preview, front)
	}
	g.onlyServes(preview, "2.0")
	g.onlyServes(front, "1.0")
	if st, _ := g.coord.latest(v2.Key); st.Strategy != "blue_green" || st.Phase != shipgate.RolloutProgressing || st.Weight != 0 {
		t.Fatalf("status before the switch %+v", st)
	}
	open()
	if out := g.wait(done); !out.Succeeded {
		t.Fatalf("blue-green: %+v", out)
	}
	g.onlyServes(front, "2.0")
	if p := g.svc.Router.PreviewAddr(rkey); p != "" {
		t.Fatalf("the preview is still served on %s", p)
	}
	green, _ := g.instance("2.0")
	if in, ok := g.svc.Sup.Get(blue.ID); !ok || in.PID != blue.PID {
		t.Fatalf("1.0 is not on standby: %v", g.versions())
	}
	if st := g.svc.get(rkey); st.Stable != green.ID || st.Standby != blue.ID || st.RetireAt.IsZero() {
		t.Fatalf("service state %+v", st)
	}

	// A rollback within the delay switches back to the standby process.
	back := g.release("1.0", g.job(bg(time.Second, nil), nil))
	if out := g.execute(back); !out.Succeeded {
		t.Fatalf("rollback: %+v", out)
	}
	g.onlyServes(front, "1.0")
	in, ok := g.instance("1.0")
	if !ok || in.ID != blue.ID || in.PID != blue.PID {
		t.Fatalf("the rollback started 1.0 again (%+v) instead of using the standby (id %s, pid %d)", in, blue.ID, blue.PID)
	}
	if st := g.svc.get(rkey); st.Stable != blue.ID {
		t.Fatalf("service state %+v", st)
	}
	// 2.0 is now the standby, stopped after its second of delay.
	testutil.WaitFor(t, "2.0 to retire", func() bool { _, ok := g.svc.Sup.Get(green.ID); return !ok })
	testutil.WaitFor(t, "the standby to leave the state", func() bool { return g.svc.get(rkey).Standby == "" })
	g.onlyServes(front, "1.0")
}

func TestAgentRestartDuringPause(t *testing.T) {
	g := newRig(t)
	listen := freeAddr(t)
	job := func(s *shipgate.Strategy) shipgate.Job {
		j := g.job(s, nil)
		j.Service.Listen = listen
		return j
	}
	if out := g.execute(g.release("1.0", job(nil))); !out.Succeeded {
		t.Fatalf("first version: %+v", out)
	}
	stable, _ := g.instance("1.0")
	a := g.release("2.0", job(canary(setWeight(50), pause(0))))
	actx, stopAgent := context.WithCancel(g.ctx)
	defer stopAgent()
	done := g.start(actx, a)
	g.waitStatus(a.Key, "the manual pause", func(s shipgate.RolloutStatus) bool { return s.Phase == shipgate.RolloutPaused })
	cn, _ := g.instance("2.0")

	// The agent goes away: routing and supervision stop, processes do not.
	g.svc.Close()
	stopAgent()
	g.wait(done)
	if _, ok := g.coord.outcome(a.Key); ok {
		t.Fatal("an agent stopped hard reported an outcome")
	}
	canaryAddr := fmt.Sprintf("127.0.0.1:%d", cn.Port)
	if v, _, err := g.get(canaryAddr); err != nil || v != "2.0" {
		t.Fatalf("the canary process did not outlive the agent: %q, %v", v, err)
	}

	g.open()
	if got := g.front(); got != listen {
		t.Fatalf("front on %q after the restart; want %q", got, listen)
	}
	g.onlyServes(listen, "1.0")
	in, ok := g.instance("1.0")
	if !ok || in.ID != stable.ID || in.PID != stable.PID || !in.Adopted {
		t.Fatalf("stable after the restart: %+v (before: %+v)", in, stable)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v after the restart", vs)
	}
	testutil.WaitFor(t, "the interrupted canary's port to close", func() bool {
		c, err := net.DialTimeout("tcp", canaryAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if st := g.svc.get(rkey); st.Stable != stable.ID || st.Listen != listen {
		t.Fatalf("service state %+v", st)
	}
}

func TestUnhealthyNewVersionFailsWithoutMovingTraffic(t *testing.T) {
	g := newRig(t)
	old := g.deploy("1.0", nil)
	l := g.drive(g.front(), 1)
	job := g.job(canary(setWeight(50)), map[string]string{helperHealthEnv: "500"})
	job.Service.StartTimeout = shipgate.Duration(2 * time.Second)
	a := g.release("2.0", job)
	out := g.execute(a)
	if out.Succeeded || !strings.Contains(out.Reason, "did not become healthy") || !strings.Contains(out.Reason, "not healthy within 2s") {
		t.Fatalf("outcome %+v", out)
	}
	l.halt()
	if seen := l.seen(); seen["2.0"] != 0 || seen["1.0"] == 0 {
		t.Fatalf("the front served %v", seen)
	}
	for _, s := range g.coord.statusesOf(a.Key) {
		if s.Weight != 0 || s.Phase == shipgate.RolloutProgressing || s.Phase == shipgate.RolloutPromoted {
			t.Fatalf("status %+v", s)
		}
	}
	if st, _ := g.coord.latest(a.Key); st.Phase != shipgate.RolloutAborted || !strings.Contains(st.Message, "did not become healthy") {
		t.Fatalf("final status %+v", st)
	}
	if tbl := g.svc.Router.Get(rkey); tbl.Canary != nil || tbl.Stable == nil || tbl.Stable.ID != old.ID {
		t.Fatalf("table %+v", tbl)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
	g.onlyServes(g.front(), "1.0")
}

func TestMovedListenSurvivesRestart(t *testing.T) {
	g := newRig(t)
	from, to := freeAddr(t), freeAddr(t)
	job := func(listen string) shipgate.Job {
		j := g.job(nil, nil)
		j.Service.Listen = listen
		return j
	}
	if out := g.execute(g.release("1.0", job(from))); !out.Succeeded {
		t.Fatalf("first version: %+v", out)
	}
	if out := g.execute(g.release("2.0", job(to))); !out.Succeeded {
		t.Fatalf("moved: %+v", out)
	}
	g.onlyServes(to, "2.0")
	g.svc.Close()
	g.open()
	if got := g.front(); got != to {
		t.Fatalf("after a restart the service is fronted on %q; it moved to %q", got, to)
	}
	g.onlyServes(to, "2.0")
}

func TestSlowStartingCanaryIsReportedWhileStarting(t *testing.T) {
	// The status reports go on while the new version starts; they must not
	// race with the rollout taking the new instance in (run with -race).
	g := newRig(t)
	g.deploy("1.0", nil)
	gate := filepath.Join(t.TempDir(), "start")
	a := g.release("2.0", g.job(canary(setWeight(10)), map[string]string{helperStartGate: gate}))
	done := g.start(g.ctx, a)
	// Reports go on while 2.0 is not serving yet; only then may it start.
	g.waitStatus(a.Key, "a report while 2.0 starts", func(s shipgate.RolloutStatus) bool {
		return s.Phase == shipgate.RolloutStarting && s.Seq >= 2
	})
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := g.wait(done); !out.Succeeded {
		t.Fatalf("outcome %+v", out)
	}
}

func TestCancelWhileNewVersionStarts(t *testing.T) {
	g := newRig(t)
	old := g.deploy("1.0", nil)
	a := g.release("2.0", g.job(canary(setWeight(50)), map[string]string{helperHealthEnv: "503"}))
	done := g.start(g.ctx, a)
	testutil.WaitFor(t, "2.0 to start", func() bool { _, ok := g.instance("2.0"); return ok })
	g.coord.setCancel("release cancelled by alice")
	out := g.wait(done)
	if out.Succeeded || !out.Cancelled || !strings.Contains(out.Reason, "cancelled by alice") {
		t.Fatalf("outcome %+v", out)
	}
	if tbl := g.svc.Router.Get(rkey); tbl.Canary != nil || tbl.Stable == nil || tbl.Stable.ID != old.ID {
		t.Fatalf("table %+v", tbl)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
}

func TestRestartKeepsRetiringTheStandby(t *testing.T) {
	g := newRig(t)
	bg := &shipgate.Strategy{BlueGreen: &shipgate.BlueGreenStrategy{Preview: "127.0.0.1:0", ScaleDownDelay: shipgate.Duration(2 * time.Second)}}
	listen := freeAddr(t)
	job := g.job(bg, nil)
	job.Service.Listen = listen
	if out := g.execute(g.release("1.0", job)); !out.Succeeded {
		t.Fatalf("first version: %+v", out)
	}
	if out := g.execute(g.release("2.0", job)); !out.Succeeded {
		t.Fatalf("second version: %+v", out)
	}
	g.svc.Close()
	g.open()
	g.onlyServes(listen, "2.0")
	testutil.WaitFor(t, "the standby to retire after the restart", func() bool {
		return slices.Equal(g.versions(), []string{"2.0"}) && g.svc.get(rkey).Standby == ""
	})
}

func TestRollbackWithoutDelayUsesTheStandbyAndClearsIt(t *testing.T) {
	g := newRig(t)
	bg := &shipgate.Strategy{BlueGreen: &shipgate.BlueGreenStrategy{Preview: "127.0.0.1:0", ScaleDownDelay: shipgate.Duration(time.Hour)}}
	if out := g.execute(g.release("1.0", g.job(bg, nil))); !out.Succeeded {
		t.Fatalf("first version: %+v", out)
	}
	blue, _ := g.instance("1.0")
	if out := g.execute(g.release("2.0", g.job(bg, nil))); !out.Succeeded {
		t.Fatalf("second version: %+v", out)
	}
	// The rollback replaces at once: the standby takes the traffic back,
	// and 2.0 is stopped rather than kept.
	if out := g.execute(g.release("1.0", g.job(nil, nil))); !out.Succeeded {
		t.Fatalf("rollback: %+v", out)
	}
	if in, ok := g.instance("1.0"); !ok || in.ID != blue.ID || in.PID != blue.PID {
		t.Fatalf("1.0 after the rollback: %+v; want the standby %+v", in, blue)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
	if st := g.svc.get(rkey); st.Stable != blue.ID || st.Standby != "" || !st.RetireAt.IsZero() {
		t.Fatalf("service state %+v: the stable instance is still listed as the standby", st)
	}
	g.onlyServes(g.front(), "1.0")
}

func TestInconclusiveAnalysisPausesForPromotion(t *testing.T) {
	g := newRig(t)
	g.deploy("1.0", nil)
	m := httpMetric("latency-budget", metricServer(t, "0.5", nil), "result < 0.1", "result > 0.9")
	a := g.release("2.0", g.job(canary(setWeight(20), shipgate.CanaryStep{Analysis: &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{m}}}, setWeight(70)), nil))
	done := g.start(g.ctx, a)
	st := g.waitStatus(a.Key, "the pause after an inconclusive analysis", func(s shipgate.RolloutStatus) bool {
		return s.Phase == shipgate.RolloutPaused
	})
	if st.Step != 2 || st.Weight != 20 || !strings.HasPrefix(st.Paused, "analysis inconclusive: ") || !strings.Contains(st.Paused, "latency-budget") {
		t.Fatalf("paused status %+v", st)
	}
	if len(st.Decisions) == 0 || st.Decisions[len(st.Decisions)-1].Phase != shipgate.AnalysisInconclusive {
		t.Fatalf("decisions %+v", st.Decisions)
	}
	g.coord.setPromoted(1)
	if out := g.wait(done); !out.Succeeded {
		t.Fatalf("after the promotion: %+v", out)
	}
	g.onlyServes(g.front(), "2.0")
}

func TestJobTimeoutDuringManualPauseAborts(t *testing.T) {
	g := newRig(t)
	old := g.deploy("1.0", nil)
	job := g.job(canary(setWeight(50), pause(0)), nil)
	job.Timeout = shipgate.Duration(3 * time.Second)
	a := g.release("2.0", job)
	out := g.execute(a)
	if out.Succeeded || out.Cancelled || !strings.Contains(out.Reason, "aborted at step 2: timed out after 3s") {
		t.Fatalf("outcome %+v", out)
	}
	if tbl := g.svc.Router.Get(rkey); tbl.Canary != nil || tbl.Stable == nil || tbl.Stable.ID != old.ID {
		t.Fatalf("table %+v", tbl)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
}

func TestBackgroundAnalysisInterruptsBlockingAnalysis(t *testing.T) {
	// The step's own analysis would wait forever; the background analysis
	// finds the canary bad meanwhile.
	g := newRig(t)
	g.deploy("1.0", nil)
	g.drive(g.front(), 2)
	never := make(chan struct{})
	m := httpMetric("never-answers", metricServer(t, "0", never), "result == 0", "")
	s := canary(setWeight(50), shipgate.CanaryStep{Analysis: &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{m}}})
	s.Canary.BackgroundAnalysis = &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{Alpha: 0.05}}
	a := g.release("2.0", g.job(s, halfErrors))
	out := g.execute(a)
	if out.Succeeded || !strings.Contains(out.Reason, "aborted at step 2") || !strings.Contains(out.Reason, "errors are disproportionate") {
		t.Fatalf("outcome %+v", out)
	}
	st, _ := g.coord.latest(a.Key)
	for _, d := range st.Decisions {
		if d.Metric == "never-answers" {
			t.Fatalf("the interrupted analysis left a decision: %+v", d)
		}
	}
	// The job, the status and the background decision name one step: the
	// analysis step the rollout was at when the judge decided.
	if st.Step != 2 || len(st.Decisions) != 1 || !st.Decisions[0].Background || st.Decisions[0].Step != 2 || st.Decisions[0].Judge != "sequential" {
		t.Fatalf("final status %+v", st)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
	g.onlyServes(g.front(), "1.0")
}

func TestBlueGreenFailedAnalysisKeepsStable(t *testing.T) {
	g := newRig(t)
	bg := func(an *shipgate.Analysis) *shipgate.Strategy {
		return &shipgate.Strategy{BlueGreen: &shipgate.BlueGreenStrategy{Preview: "127.0.0.1:0", Analysis: an, ScaleDownDelay: shipgate.Duration(time.Minute)}}
	}
	if out := g.execute(g.release("1.0", g.job(bg(nil), nil))); !out.Succeeded {
		t.Fatalf("first version: %+v", out)
	}
	blue, _ := g.instance("1.0")
	m := httpMetric("smoke", metricServer(t, "1", nil), "", "result > 0.5")
	a := g.release("2.0", g.job(bg(&shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{m}}), nil))
	out := g.execute(a)
	if out.Succeeded || !strings.Contains(out.Reason, "aborted at step 1") || !strings.Contains(out.Reason, "smoke") {
		t.Fatalf("outcome %+v", out)
	}
	// Blue-green is one step: its analysis, status and abort say step 1 of 1.
	if st, _ := g.coord.latest(a.Key); st.Step != 1 || st.Steps != 1 || len(st.Decisions) == 0 || st.Decisions[len(st.Decisions)-1].Step != 1 {
		t.Fatalf("final status %+v", st)
	}
	if p := g.svc.Router.PreviewAddr(rkey); p != "" {
		t.Fatalf("the preview is still served on %s", p)
	}
	if tbl := g.svc.Router.Get(rkey); tbl.Stable == nil || tbl.Stable.ID != blue.ID || tbl.Canary != nil || tbl.Preview != nil {
		t.Fatalf("table %+v", tbl)
	}
	if st := g.svc.get(rkey); st.Stable != blue.ID || st.Standby != "" {
		t.Fatalf("service state %+v", st)
	}
	if vs := g.versions(); !slices.Equal(vs, []string{"1.0"}) {
		t.Fatalf("running %v", vs)
	}
	g.onlyServes(g.front(), "1.0")
}

func TestServiceProcessEnvironment(t *testing.T) {
	g := newRig(t)
	job := g.job(nil, map[string]string{"SVC_VAR": "from service.env"})
	job.Env = map[string]string{"JOB_VAR": "from job.env"}
	job.Service.Exec = append(job.Service.Exec, "${ARTIFACT_PATH}", "port=${PORT}", "${SHIPGATE_VERSION}")
	a := g.release("1.0", job)
	a.Inputs = map[string]string{"note": "${PORT} ${VERSION}"}
	if out := g.execute(a); !out.Succeeded {
		t.Fatalf("outcome %+v", out)
	}
	in, _ := g.instance("1.0")
	resp, err := g.http.Get(fmt.Sprintf("http://127.0.0.1:%d/env", in.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info helperInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range info.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	copied := filepath.Join(in.Spec.Dir, "shop-1.0.bin")
	if b, err := os.ReadFile(copied); err != nil || string(b) != "shop 1.0\n" {
		t.Fatalf("the artifact in the instance directory: %q, %v", b, err)
	}
	port := fmt.Sprint(in.Port)
	if want := []string{g.bin, helperVersionFlag, "1.0", copied, "port=" + port, "${SHIPGATE_VERSION}"}; !slices.Equal(info.Args, want) {
		t.Fatalf("argv %q; want %q", info.Args, want)
	}
	if info.Dir != in.Spec.Dir {
		t.Fatalf("ran in %s; want %s", info.Dir, in.Spec.Dir)
	}
	for k, want := range map[string]string{
		"PORT": port, "SVC_VAR": "from service.env", "JOB_VAR": "from job.env", "SHIPGATE_VERSION": "1.0",
		"SHIPGATE_ARTIFACT_PATH": copied, "SHIPGATE_INPUT_NOTE": "${PORT} ${VERSION}", "SHIPGATE_SERVICE": "shop",
	} {
		if env[k] != want {
			t.Errorf("$%s = %q; want %q", k, env[k], want)
		}
	}
}

// tarEntry is one entry of a test archive.
type tarEntry struct {
	name     string
	typeflag byte
	mode     int64
	body     string
	link     string
}

func writeTarGz(t *testing.T, path string, entries ...tarEntry) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: e.mode, Size: int64(len(e.body)), Linkname: e.link}
		if e.typeflag != tar.TypeReg {
			h.Size = 0
		}
		if e.typeflag == tar.TypeXGlobalHeader {
			h = &tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: e.name, PAXRecords: map[string]string{"comment": e.body}}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUnpackArtifact(t *testing.T) {
	t.Run("tar.gz is extracted", func(t *testing.T) {
		root := t.TempDir()
		cached := filepath.Join(root, "cached")
		writeTarGz(t, cached,
			tarEntry{name: "bin/", typeflag: tar.TypeDir, mode: 0o755},
			tarEntry{name: "bin/shop", typeflag: tar.TypeReg, mode: 0o755, body: "#!/bin/sh\n"},
			tarEntry{name: "etc/shop.conf", typeflag: tar.TypeReg, mode: 0o644, body: "port=1\n"},
		)
		dir := filepath.Join(root, "inst")
		got, err := unpackArtifact(cached, "/srv/releases/shop-2.0.tar.gz", dir)
		if err != nil || got != dir {
			t.Fatalf("unpack: %q, %v", got, err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "etc", "shop.conf")); err != nil || string(b) != "port=1\n" {
			t.Fatalf("etc/shop.conf: %q, %v", b, err)
		}
		fi, err := os.Stat(filepath.Join(dir, "bin", "shop"))
		if err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Fatalf("bin/shop: %v, %v", fi, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, "etc", "shop.conf")); err != nil || fi.Mode().Perm()&0o111 != 0 {
			t.Fatalf("etc/shop.conf is executable: %v, %v", fi, err)
		}
		// Unpacked once: the complete directory is reused as it is.
		os.WriteFile(filepath.Join(dir, "etc", "shop.conf"), []byte("changed"), 0o644)
		if got, err := unpackArtifact(cached, "/srv/releases/shop-2.0.tar.gz", dir); err != nil || got != dir {
			t.Fatalf("again: %q, %v", got, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "etc", "shop.conf")); string(b) != "changed" {
			t.Fatal("a complete directory was unpacked again")
		}
	})
	t.Run("a URL's path names the archive", func(t *testing.T) {
		root := t.TempDir()
		cached := filepath.Join(root, "cached")
		writeTarGz(t, cached, tarEntry{name: "shop", typeflag: tar.TypeReg, mode: 0o755, body: "x"})
		dir := filepath.Join(root, "inst")
		if got, err := unpackArtifact(cached, "https://dl.example.com/shop/2.0/shop.tgz?token=abc", dir); err != nil || got != dir {
			t.Fatalf("unpack: %q, %v", got, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "shop")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("git archive's global header", func(t *testing.T) {
		root := t.TempDir()
		cached := filepath.Join(root, "cached")
		writeTarGz(t, cached,
			tarEntry{name: "pax_global_header", typeflag: tar.TypeXGlobalHeader, body: "3f2a9c1e"},
			tarEntry{name: "shop-2.0/", typeflag: tar.TypeDir, mode: 0o755},
			tarEntry{name: "shop-2.0/shop", typeflag: tar.TypeReg, mode: 0o755, body: "x"},
		)
		dir := filepath.Join(root, "inst")
		if _, err := unpackArtifact(cached, "shop-2.0.tar.gz", dir); err != nil {
			t.Fatalf("unpack: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "shop-2.0", "shop")); err != nil {
			t.Fatal(err)
		}
	})
	refused := []struct {
		name  string
		entry tarEntry
		want  string
	}{
		{"parent", tarEntry{name: "../evil", typeflag: tar.TypeReg, mode: 0o644, body: "x"}, "leaves the directory"},
		{"parent inside", tarEntry{name: "bin/../../evil", typeflag: tar.TypeReg, mode: 0o644, body: "x"}, "leaves the directory"},
		{"parent dir", tarEntry{name: "../evil/", typeflag: tar.TypeDir, mode: 0o755}, "leaves the directory"},
		{"absolute", tarEntry{name: "/tmp/evil", typeflag: tar.TypeReg, mode: 0o644, body: "x"}, "leaves the directory"},
		{"symlink", tarEntry{name: "evil", typeflag: tar.TypeSymlink, link: "/etc/passwd"}, "link or special file"},
		{"hard link", tarEntry{name: "evil", typeflag: tar.TypeLink, link: "/etc/passwd"}, "link or special file"},
		{"device", tarEntry{name: "evil", typeflag: tar.TypeChar}, "link or special file"},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			root := t.TempDir()
			cached := filepath.Join(root, "cached")
			writeTarGz(t, cached, tarEntry{name: "ok", typeflag: tar.TypeReg, mode: 0o644, body: "fine"}, tt.entry)
			dir := filepath.Join(root, "a", "inst")
			_, err := unpackArtifact(cached, "shop.tar.gz", dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v; want %q", err, tt.want)
			}
			for _, p := range []string{filepath.Join(root, "a", "evil"), filepath.Join(root, "evil"), filepath.Join(dir, "evil"), "/tmp/evil"} {
				if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a refused archive (%v)", p, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, ".shipgate-unpacked")); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a refused archive is marked unpacked")
			}
		})
	}
	t.Run("not a gzip archive", func(t *testing.T) {
		root := t.TempDir()
		cached := filepath.Join(root, "cached")
		os.WriteFile(cached, []byte("plain text"), 0o644)
		if _, err := unpackArtifact(cached, "shop.tgz", filepath.Join(root, "inst")); err == nil || !strings.Contains(err.Error(), "not a gzip archive") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a plain file is copied executable", func(t *testing.T) {
		root := t.TempDir()
		cached := filepath.Join(root, "cached")
		if err := os.WriteFile(cached, []byte("\x7fELF binary"), 0o400); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "inst")
		got, err := unpackArtifact(cached, "/srv/releases/shop-linux-amd64", dir)
		if want := filepath.Join(dir, "shop-linux-amd64"); err != nil || got != want {
			t.Fatalf("unpack: %q, %v; want %q", got, err, want)
		}
		fi, err := os.Stat(got)
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("copy: %v, %v", fi, err)
		}
		if b, _ := os.ReadFile(got); string(b) != "\x7fELF binary" {
			t.Fatalf("copy holds %q", b)
		}
		got, err = unpackArtifact(cached, "https://dl.example.com/v2/shop?sig=1", filepath.Join(root, "url"))
		if want := filepath.Join(root, "url", "shop"); err != nil || got != want {
			t.Fatalf("from a URL: %q, %v; want %q", got, err, want)
		}
	})
}

// Every pause has its own number: promoting the first pause of a step
// does not release a second pause at the same step, and a background
// analysis that was inconclusive watches again after the promotion.
func TestEachPauseNeedsItsOwnPromotion(t *testing.T) {
	g := newRig(t)
	g.deploy("1.0", nil)
	bg := httpMetric("bg-budget", metricServer(t, "0.5", nil), "result < 0.1", "result > 0.9")
	bg.Count = 1
	c := canary(setWeight(20), pause(0), setWeight(40), pause(10*time.Minute))
	c.Canary.BackgroundAnalysis = &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{bg}}
	a := g.release("2.0", g.job(c, nil))
	done := g.start(g.ctx, a)
	first := g.waitStatus(a.Key, "the first pause", func(s shipgate.RolloutStatus) bool {
		return s.Phase == shipgate.RolloutPaused && s.Pause >= 1
	})
	g.coord.setPromoted(first.Pause)
	g.waitStatus(a.Key, "a pause after the first one was promoted", func(s shipgate.RolloutStatus) bool {
		return s.Phase == shipgate.RolloutPaused && s.Pause > first.Pause
	})
	select {
	case out := <-done:
		t.Fatalf("the rollout ended on the first promotion: %+v", out)
	default:
	}
	// The background metric is inconclusive every time it measures: each
	// promotion lets it watch again, and it pauses again. A cancel ends it.
	g.coord.setCancel("enough")
	if out := g.wait(done); !out.Cancelled {
		t.Fatalf("after the cancel: %+v", out)
	}
	g.onlyServes(g.front(), "1.0")
}

// varServer serves {"value": V}, with V changeable while it runs.
func varServer(t *testing.T, v *atomic.Value) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"value": %s}`, v.Load().(string))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An inconclusive background metric pauses the rollout, but the
// background sequential judge keeps watching while the rollout waits for a
// person: a canary failing half its requests is aborted without anyone
// answering.
func TestBackgroundJudgeWatchesWhileAMetricPauses(t *testing.T) {
	g := newRig(t)
	g.deploy("1.0", nil)
	g.drive(g.front(), 2)
	m := httpMetric("bg-budget", metricServer(t, "0.5", nil), "result < 0.1", "result > 0.9")
	m.Count = 1
	s := canary(setWeight(50), pause(10*time.Minute))
	s.Canary.BackgroundAnalysis = &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{}, Metrics: []shipgate.AnalysisMetric{m}}
	a := g.release("2.0", g.job(s, halfErrors))
	done := g.start(g.ctx, a)
	g.waitStatus(a.Key, "the background pause", func(s shipgate.RolloutStatus) bool { return s.Phase == shipgate.RolloutPaused })
	out := g.wait(done)
	if out.Succeeded || out.Cancelled || !strings.Contains(out.Reason, "disproportionate") {
		t.Fatalf("outcome %+v, want an abort by the sequential judge", out)
	}
	g.onlyServes(g.front(), "1.0")
}

// A background metric that was inconclusive waits for the promotion of
// its own pause: an earlier promotion (of a manual pause) does not let it
// measure again while its pause waits.
func TestBackgroundMetricWaitsForItsOwnPause(t *testing.T) {
	g := newRig(t)
	g.deploy("1.0", nil)
	m := httpMetric("bg-budget", metricServer(t, "0.5", nil), "result < 0.1", "result > 0.9")
	m.Count = 1
	m.InitialDelay = shipgate.Duration(3 * time.Second)
	c := canary(setWeight(20), pause(0), setWeight(40), pause(10*time.Minute))
	c.Canary.BackgroundAnalysis = &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{m}}
	a := g.release("2.0", g.job(c, nil))
	done := g.start(g.ctx, a)
	first := g.waitStatus(a.Key, "the manual pause", func(s shipgate.RolloutStatus) bool { return s.Phase == shipgate.RolloutPaused && s.Pause == 1 })
	g.coord.setPromoted(first.Pause)
	g.waitStatus(a.Key, "the background pause", func(s shipgate.RolloutStatus) bool { return s.Phase == shipgate.RolloutPaused && s.Pause == 2 })
	before := g.coord.repliesWith(first.Pause)
	testutil.WaitFor(t, "four more reports while pause 2 waits", func() bool { return g.coord.repliesWith(first.Pause) >= before+4 })
	st, _ := g.coord.latest(a.Key)
	n := 0
	for _, d := range st.Decisions {
		if d.Background {
			n++
		}
	}
	if st.Phase != shipgate.RolloutPaused || st.Pause != 2 || n != 1 {
		t.Fatalf("while pause 2 waited: phase %s, pause %d, %d background decisions (want 1)", st.Phase, st.Pause, n)
	}
	g.coord.setCancel("enough")
	if out := g.wait(done); !out.Cancelled {
		t.Fatalf("after the cancel: %+v", out)
	}
}

// After an inconclusive background result interrupted a step's analysis
// and was promoted, the step's analysis starts over with the background
// still watching: a background failure then aborts.
func TestBackgroundFailureDuringARedoneStepAnalysis(t *testing.T) {
	g := newRig(t)
	g.deploy("1.0", nil)
	var v atomic.Value
	v.Store("0.5")
	bgm := httpMetric("bg", varServer(t, &v), "result < 0.1", "result > 0.9")
	bgm.Interval = shipgate.Duration(500 * time.Millisecond)
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	step := httpMetric("never-answers", metricServer(t, "0", never), "result == 0", "")
	s := canary(setWeight(50), shipgate.CanaryStep{Analysis: &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{step}}})
	s.Canary.BackgroundAnalysis = &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{bgm}}
	a := g.release("2.0", g.job(s, nil))
	done := g.start(g.ctx, a)
	p := g.waitStatus(a.Key, "the background pause", func(s shipgate.RolloutStatus) bool { return s.Phase == shipgate.RolloutPaused })
	v.Store("1.0") // the canary is now clearly failing
	g.coord.setPromoted(p.Pause)
	out := g.wait(done)
	if out.Succeeded || out.Cancelled || !strings.Contains(out.Reason, `"bg" failed`) {
		t.Fatalf("outcome %+v, want an abort by the background metric", out)
	}
}

// Everything the agent reports is masked, evidence included: it goes into
// the audit log, which cannot be scrubbed.
func TestReportedEvidenceIsMasked(t *testing.T) {
	ro := &rolloutRun{logs: &shipper{masker: newMasker([]string{"hunter2-secret"})}}
	ro.status.Message = "crashed: password hunter2-secret refused"
	ro.record(shipgate.AnalysisDecision{Summary: "x hunter2-secret", Evidence: map[string]any{
		"last_message": "GET http://m/ answered HTTP 500: token=hunter2-secret",
		"nested":       map[string]any{"list": []any{"a hunter2-secret"}},
	}})
	s := ro.snapshot()
	if got := fmt.Sprint(s.Message, s.Decisions); strings.Contains(got, "hunter2") {
		t.Fatalf("reported unmasked: %s", got)
	}
}

// A services.json that does not parse stops the agent's start with the
// file's name, touches no process, and leaves the directory to a fixed
// next start (the supervisor's lock is released).
func TestOpenServicesRefusesACorruptState(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := OpenServices(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	p := filepath.Join(dir, "services.json")
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenServices(dir, log); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("OpenServices on a corrupt state: %v", err)
	}
	os.WriteFile(p, []byte("[]"), 0o600)
	s, err = OpenServices(dir, log)
	if err != nil {
		t.Fatalf("after repairing the file: %v", err)
	}
	s.Close()
}

// ${VERSION} puts the release's version into the service's argv. Versions
// are restricted (shipgate.ValidateVersion), so the substitution is always
// exactly one argument, never an option; a version stored before the
// restriction, or sent by a server that does not apply it, is refused
// before anything is fetched or started.
func TestVersionInArgvIsOneArgumentNeverAnOption(t *testing.T) {
	g := newRig(t)
	job := g.job(nil, nil)
	job.Service.Exec = append(job.Service.Exec, "${VERSION}", "--tag=${VERSION}", "${VERSION}${ARTIFACT_PATH}")
	const version = "2.0.1-rc.1+build.7_x"
	if out := g.execute(g.release(version, job)); !out.Succeeded {
		t.Fatalf("outcome %+v", out)
	}
	in, _ := g.instance(version)
	resp, err := g.http.Get(fmt.Sprintf("http://127.0.0.1:%d/env", in.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info helperInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(in.Spec.Dir, "shop-"+version+".bin")
	if want := []string{g.bin, helperVersionFlag, version, version, "--tag=" + version, version + copied}; !slices.Equal(info.Args, want) {
		t.Fatalf("argv %q; want %q", info.Args, want)
	}

	for _, hostile := range []string{
		"--config=/etc/shipgate/secret.key", // an option, if it were an argument of its own
		"-version",
		"1.0 --debug",         // two words to a shell (there is none, but still refused)
		"${ARTIFACT_PATH}",    // would expand again in a second pass
		"1.0\x1b[2K\rstarted", // a terminal escape in the service's log and state
	} {
		before := g.versions()
		out := g.execute(g.release(hostile, job))
		if out.Succeeded || !strings.Contains(out.Reason, "not starting the service") || !strings.Contains(out.Reason, "is not valid") {
			t.Errorf("version %q: outcome %+v; want a refusal", hostile, out)
		}
		if strings.ContainsAny(out.Reason, "\x1b\r") {
			t.Errorf("version %q: the reason carries control characters: %q", hostile, out.Reason)
		}
		if after := g.versions(); !slices.Equal(after, before) {
			t.Errorf("version %q: instances %v; want %v (nothing started)", hostile, after, before)
		}
	}
}

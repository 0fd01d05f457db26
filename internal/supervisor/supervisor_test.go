package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
)

const waitLimit = 20 * time.Second

// openSup opens a supervisor on dir that stops everything it runs when
// the test ends.
func openSup(t *testing.T, dir string) *Supervisor {
	t.Helper()
	return openSupTuned(t, dir, defaultTuning)
}

func openSupTuned(t *testing.T, dir string, tune tuning) *Supervisor {
	t.Helper()
	s, err := open(dir, slog.New(slog.NewTextHandler(t.Output(), nil)), tune)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { stopAll(t, s) })
	return s
}

func stopAll(t *testing.T, s *Supervisor) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		if err := s.StopAll(ctx); err != nil {
			t.Errorf("StopAll: %v", err)
		}
	}
	s.Close()
}

// helperSpec runs the test binary as an HTTP server; args go to
// helperServe.
func helperSpec(t *testing.T, args ...string) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{
		Service:        "web/test/deploy",
		Version:        "v1",
		Digest:         "sha256:abc",
		Dir:            t.TempDir(),
		Exec:           append([]string{exe, "-port=${PORT}"}, args...),
		Env:            []string{"SUPERVISOR_HELPER=serve", "GREETING=hello world"},
		HealthPath:     "/health",
		HealthInterval: 50 * time.Millisecond,
		HealthTimeout:  time.Second,
		StopGrace:      5 * time.Second,
	}
}

func start(t *testing.T, s *Supervisor, spec Spec) Instance {
	t.Helper()
	inst, err := s.Start(spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return inst
}

func waitHealthy(t *testing.T, s *Supervisor, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.WaitHealthy(ctx, id); err != nil {
		t.Fatalf("WaitHealthy: %v", err)
	}
}

func get(port int, path string) (string, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func info(t *testing.T, port int) helperInfo {
	t.Helper()
	body, err := get(port, "/info")
	if err != nil {
		t.Fatalf("GET /info: %v", err)
	}
	var i helperInfo
	if err := json.Unmarshal([]byte(body), &i); err != nil {
		t.Fatalf("GET /info: %v: %s", err, body)
	}
	return i
}

// alive reports whether pid runs; a zombie does not count.
func alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z'
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readStateFile(t *testing.T, dir string) stateDoc {
	t.Helper()
	st, err := readState(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStartHealthyWithPortAndEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSup(t, dir)
	spec := helperSpec(t)
	inst := start(t, s, spec)
	if inst.Port == 0 || inst.PID == 0 || inst.State != StateStarting || inst.Adopted {
		t.Fatalf("Start returned %+v", inst)
	}
	waitHealthy(t, s, inst.ID)
	testutil.WaitFor(t, "state healthy", func() bool { i, _ := s.Get(inst.ID); return i.State == StateHealthy })

	i := info(t, inst.Port)
	if i.PortArg != strconv.Itoa(inst.Port) || i.PID != inst.PID {
		t.Errorf("the process saw -port=%s pid %d; want %d pid %d", i.PortArg, i.PID, inst.Port, inst.PID)
	}
	if i.PGID != i.PID {
		t.Errorf("pgid %d, want its own group %d", i.PGID, i.PID)
	}
	if i.Dir != spec.Dir {
		t.Errorf("working directory %s, want %s", i.Dir, spec.Dir)
	}
	wantEnv := []string{"GREETING=hello world", "PORT=" + strconv.Itoa(inst.Port), "SUPERVISOR_HELPER=serve"}
	slices.Sort(i.Env)
	if !slices.Equal(i.Env, wantEnv) {
		t.Errorf("environment %q, want exactly %q", i.Env, wantEnv)
	}

	st := readStateFile(t, dir)
	if len(st.Instances) != 1 || st.Instances[0].PID != inst.PID || st.Instances[0].StartTicks == 0 || st.Instances[0].Port != inst.Port {
		t.Errorf("state file %+v", st)
	}
	if log := readLog(t, inst.LogPath); !strings.Contains(log, "serving on 127.0.0.1:"+strconv.Itoa(inst.Port)) {
		t.Errorf("log has no output of the process:\n%s", log)
	}
	if got := s.List(); len(got) != 1 || got[0].ID != inst.ID {
		t.Errorf("List = %+v", got)
	}
}

func TestTCPHealthProbe(t *testing.T) {
	t.Parallel()
	s := openSup(t, t.TempDir())
	spec := helperSpec(t, "-health-fail") // the HTTP check would fail; TCP does not look
	spec.HealthPath = ""
	inst := start(t, s, spec)
	waitHealthy(t, s, inst.ID)
}

func TestUnhealthyNeverPasses(t *testing.T) {
	t.Parallel()
	s := openSup(t, t.TempDir())
	inst := start(t, s, helperSpec(t, "-health-fail"))
	// Once the process serves, a wait that times out says why.
	testutil.WaitFor(t, "WaitHealthy to time out with the probe's 503", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := s.WaitHealthy(ctx, inst.ID)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitHealthy = %v; want the deadline", err)
		}
		return strings.Contains(err.Error(), "503 Service Unavailable")
	})

	// Stopping it ends a wait.
	werr := make(chan error, 1)
	go func() { werr <- s.WaitHealthy(context.Background(), inst.ID) }()
	if err := s.Stop(context.Background(), inst.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("WaitHealthy after Stop = %v", err)
	}
	if err := s.WaitHealthy(context.Background(), inst.ID); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("WaitHealthy of a stopped instance = %v", err)
	}
}

func TestCrashRestartsOnSamePort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSup(t, dir)
	inst := start(t, s, helperSpec(t))
	waitHealthy(t, s, inst.ID)
	child, err := get(inst.Port, "/child")
	if err != nil {
		t.Fatal(err)
	}
	childPID, _ := strconv.Atoi(child)

	get(inst.Port, "/crash")
	var now Instance
	testutil.WaitFor(t, "a healthy restart", func() bool {
		now, _ = s.Get(inst.ID)
		return now.Restarts == 1 && now.State == StateHealthy
	})
	if now.Port != inst.Port || now.PID == inst.PID || now.PID == 0 || now.LastExit != "exit status 1" || now.Adopted {
		t.Errorf("after the crash: %+v (before: port %d pid %d)", now, inst.Port, inst.PID)
	}
	if i := info(t, inst.Port); i.PID != now.PID {
		t.Errorf("port %d is served by pid %d, want %d", inst.Port, i.PID, now.PID)
	}
	testutil.WaitFor(t, "the crashed process's child to be killed", func() bool { return !alive(childPID) })
	if st := readStateFile(t, dir); st.Instances[0].Restarts != 1 || st.Instances[0].PID != now.PID {
		t.Errorf("state file %+v", st.Instances[0])
	}
	if log := readLog(t, inst.LogPath); !strings.Contains(log, "crashing on request") || !strings.Contains(log, "exit status 1; restarting") {
		t.Errorf("log:\n%s", log)
	}
}

func TestCrashLoopBeforeHealthy(t *testing.T) {
	t.Parallel()
	s := openSup(t, t.TempDir())
	inst := start(t, s, helperSpec(t, "-crash-at-start"))
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := s.WaitHealthy(ctx, inst.ID)
	if err == nil {
		t.Fatal("WaitHealthy of a crash loop succeeded")
	}
	for _, want := range []string{"exited 3 times", "exit status 3", "boom: cannot open the database"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("WaitHealthy error lacks %q: %v", want, err)
		}
	}
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Errorf("code %s", shipgate.ErrorCode(err))
	}
	if i, _ := s.Get(inst.ID); i.Restarts < 2 {
		t.Errorf("restarts %d", i.Restarts)
	}
}

func TestStartFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSup(t, dir)
	if _, err := s.Start(Spec{Service: "x"}); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Errorf("Start without exec = %v", err)
	}
	if _, err := s.Start(Spec{Service: "x", Exec: []string{"/nonexistent/server"}}); err == nil {
		t.Error("Start of a missing program succeeded")
	}
	if got := s.List(); len(got) != 0 {
		t.Errorf("List = %+v", got)
	}
	if st := readStateFile(t, dir); len(st.Instances) != 0 {
		t.Errorf("state file %+v", st)
	}
}

func TestStopGraceful(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSup(t, dir)
	inst := start(t, s, helperSpec(t))
	waitHealthy(t, s, inst.ID)
	child, err := get(inst.Port, "/child")
	if err != nil {
		t.Fatal(err)
	}
	childPID, _ := strconv.Atoi(child)
	if !alive(childPID) {
		t.Fatalf("child %d not running", childPID)
	}
	if err := s.Stop(context.Background(), inst.ID); err != nil {
		t.Fatal(err)
	}
	if alive(inst.PID) || alive(childPID) {
		t.Errorf("after Stop: service alive %v, its child alive %v", alive(inst.PID), alive(childPID))
	}
	if _, ok := s.Get(inst.ID); ok {
		t.Error("Get finds a stopped instance")
	}
	if log := readLog(t, inst.LogPath); !strings.Contains(log, "got SIGTERM") || !strings.Contains(log, "exit status 0") {
		t.Errorf("log:\n%s", log)
	}
	if st := readStateFile(t, dir); len(st.Instances) != 0 {
		t.Errorf("state file %+v", st)
	}
	if err := s.Stop(context.Background(), inst.ID); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Errorf("second Stop = %v", err)
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	s := openSup(t, t.TempDir())
	spec := helperSpec(t, "-ignore-term")
	spec.StopGrace = 300 * time.Millisecond
	inst := start(t, s, spec)
	waitHealthy(t, s, inst.ID)
	if err := s.Stop(context.Background(), inst.ID); err != nil {
		t.Fatal(err)
	}
	if alive(inst.PID) {
		t.Error("alive after Stop")
	}
	if log := readLog(t, inst.LogPath); !strings.Contains(log, "signal: killed") {
		t.Errorf("log:\n%s", log)
	}
}

func TestStopContextEndsKillsAtOnce(t *testing.T) {
	t.Parallel()
	s := openSup(t, t.TempDir())
	spec := helperSpec(t, "-ignore-term")
	spec.StopGrace = time.Hour
	inst := start(t, s, spec)
	waitHealthy(t, s, inst.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx, inst.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v", err)
	}
	if alive(inst.PID) {
		t.Error("alive after Stop")
	}
}

// detached starts a helper server that is not the test's child (its
// parent exits), as an earlier agent's process is to a restarted one, and
// writes a state file listing it.
func TestLogRotation(t *testing.T) {
	t.Parallel()
	tune := defaultTuning
	tune.logCap = 64 << 10
	s := openSupTuned(t, t.TempDir(), tune)
	inst := start(t, s, helperSpec(t))
	waitHealthy(t, s, inst.ID)
	if _, err := get(inst.Port, "/spam?lines=2000"); err != nil { // 200 KB
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the log to be rotated", func() bool {
		fi, err := os.Stat(inst.LogPath + ".1")
		cur, err2 := os.Stat(inst.LogPath)
		return err == nil && err2 == nil && fi.Size() > tune.logCap && cur.Size() < tune.logCap
	})
	// The process keeps logging into the truncated file, at its start.
	get(inst.Port, "/crash")
	testutil.WaitFor(t, "the crash in the log", func() bool {
		b, _ := os.ReadFile(inst.LogPath)
		return strings.Contains(string(b), "crashing on request") && !strings.Contains(string(b), "\x00")
	})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := openSup(t, t.TempDir())
	spec := helperSpec(t)
	spec.HealthPath = ""
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst, err := s.Start(spec)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = inst.ID
			s.List()
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := s.WaitHealthy(ctx, inst.ID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ports := map[int]bool{}
	for _, in := range s.List() {
		ports[in.Port] = true
	}
	if len(ports) != len(ids) {
		t.Errorf("%d instances on %d ports", len(ids), len(ports))
	}
	if err := s.StopAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.List(); len(got) != 0 {
		t.Errorf("List after StopAll = %+v", got)
	}
}

// Not parallel: it counts the goroutines of the whole test binary.
func TestNoGoroutinesLeft(t *testing.T) {
	before := countGoroutines()
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, s, helperSpec(t))
	b := start(t, s, helperSpec(t, "-crash-at-start"))
	waitHealthy(t, s, a.ID)
	testutil.WaitFor(t, "a crash", func() bool { i, _ := s.Get(b.ID); return i.Restarts > 0 })
	if err := s.StopAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	testutil.WaitFor(t, "goroutines to end after StopAll", func() bool { return countGoroutines() <= before })

	s, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a = start(t, s, helperSpec(t))
	killAtEnd(t, a.PID)
	waitHealthy(t, s, a.ID)
	s.Close()
	testutil.WaitFor(t, "goroutines to end after Close", func() bool { return countGoroutines() <= before })
	stopAll(t, openSup(t, dir))
}

// countGoroutines counts the goroutines running the supervisor's code.
func countGoroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "internal/supervisor.(*Supervisor)") {
			n++
		}
	}
	return n
}

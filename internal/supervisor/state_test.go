package supervisor

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
)

func TestCloseThenOpenReadopts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := openSup(t, dir)
	inst := start(t, s1, helperSpec(t))
	waitHealthy(t, s1, inst.ID)
	s1.Close()
	killAtEnd(t, inst.PID)
	if !alive(inst.PID) {
		t.Fatal("Close stopped the process")
	}
	if _, err := s1.Start(helperSpec(t)); err == nil {
		t.Error("Start after Close succeeded")
	}

	s2 := openSup(t, dir)
	got, ok := s2.Get(inst.ID)
	if !ok || got.PID != inst.PID || !got.Adopted || got.Port != inst.Port || got.Restarts != 0 {
		t.Fatalf("after Open: %+v, %v; want pid %d adopted", got, ok, inst.PID)
	}
	waitHealthy(t, s2, inst.ID)
	if err := s2.Stop(context.Background(), inst.ID); err != nil {
		t.Fatal(err)
	}
	if alive(inst.PID) {
		t.Error("adopted process alive after Stop")
	}
	if log := readLog(t, inst.LogPath); !strings.Contains(log, "got SIGTERM") {
		t.Errorf("log:\n%s", log)
	}
}

func detached(t *testing.T, dir string, spec Spec, id string) (pid, port int) {
	t.Helper()
	port = freePort(t)
	logPath := filepath.Join(dir, "logs", id+".log")
	os.MkdirAll(filepath.Dir(logPath), 0o700)
	cmd := exec.Command(spec.Exec[0], strings.ReplaceAll(spec.Exec[1], "${PORT}", strconv.Itoa(port)))
	cmd.Env = []string{"SUPERVISOR_HELPER=detach", "PORT=" + strconv.Itoa(port), "DETACH_LOG=" + logPath}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("detach: %v", err)
	}
	pid, _ = strconv.Atoi(string(out))
	killAtEnd(t, pid)
	st, err := readStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	writeState(t, dir, stateDoc{Version: stateVersion, BootID: bootID(), Instances: []record{
		{ID: id, Spec: spec, Port: port, PID: pid, StartTicks: st.startTicks, StartedAt: time.Now()},
	}})
	return pid, port
}

func freePort(t *testing.T) int {
	t.Helper()
	s := &Supervisor{reserved: map[int]bool{}}
	port, err := s.allocPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func writeState(t *testing.T, dir string, st stateDoc) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenAdoptsNonChild(t *testing.T) {
	t.Parallel()
	for _, end := range []string{"stop", "crash"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			spec := helperSpec(t)
			pid, port := detached(t, dir, spec, "0123456789abcdef")
			s := openSup(t, dir)
			got, ok := s.Get("0123456789abcdef")
			if !ok || got.PID != pid || !got.Adopted {
				t.Fatalf("after Open: %+v; want pid %d adopted", got, pid)
			}
			waitHealthy(t, s, got.ID)
			switch end {
			case "stop":
				if err := s.Stop(context.Background(), got.ID); err != nil {
					t.Fatal(err)
				}
				if alive(pid) {
					t.Error("adopted process alive after Stop")
				}
				if log := readLog(t, got.LogPath); !strings.Contains(log, "got SIGTERM") {
					t.Errorf("log:\n%s", log)
				}
			case "crash":
				get(port, "/crash")
				var now Instance
				testutil.WaitFor(t, "a restart as a child", func() bool {
					now, _ = s.Get(got.ID)
					return now.Restarts == 1 && now.State == StateHealthy
				})
				if now.Adopted || now.PID == pid || now.Port != port || !strings.Contains(now.LastExit, "adopted") {
					t.Errorf("after the crash: %+v", now)
				}
			}
		})
	}
}

func TestOpenRestartsWhatDiedMeanwhile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := openSup(t, dir)
	inst := start(t, s1, helperSpec(t))
	waitHealthy(t, s1, inst.ID)
	s1.Close()
	syscall.Kill(-inst.PID, syscall.SIGKILL)
	testutil.WaitFor(t, "the process to die", func() bool { return !alive(inst.PID) })

	s2 := openSup(t, dir)
	var now Instance
	testutil.WaitFor(t, "a healthy restart", func() bool {
		now, _ = s2.Get(inst.ID)
		return now.Restarts == 1 && now.State == StateHealthy
	})
	if now.Adopted || now.PID == inst.PID || now.Port != inst.Port || !strings.Contains(now.LastExit, "had exited") {
		t.Errorf("after Open: %+v", now)
	}
}

func TestOpenStaleState(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// An unrelated live process: its PID must not be taken for ours.
	other := exec.Command(exe)
	other.Env = []string{"SUPERVISOR_HELPER=sleep"}
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	otherStat, err := readStat(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("/bin/sh", "-c", "exit 0")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		pid    int
		ticks  uint64
		bootID string
	}{
		{"dead pid", dead.Process.Pid, 12345, bootID()},
		{"reused pid", other.Process.Pid, otherStat.startTicks + 1, bootID()},
		{"other boot", other.Process.Pid, otherStat.startTicks, "another-boot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := helperSpec(t)
			port := freePort(t)
			writeState(t, dir, stateDoc{Version: stateVersion, BootID: tc.bootID, Instances: []record{
				{ID: "feedfacefeedface", Spec: spec, Port: port, PID: tc.pid, StartTicks: tc.ticks, Restarts: 4},
			}})
			s := openSup(t, dir)
			var now Instance
			testutil.WaitFor(t, "a healthy restart", func() bool {
				now, _ = s.Get("feedfacefeedface")
				return now.Restarts == 5 && now.State == StateHealthy
			})
			if now.Adopted || now.PID == tc.pid || now.Port != port {
				t.Errorf("after Open: %+v", now)
			}
			if !alive(other.Process.Pid) {
				t.Fatal("the unrelated process was killed")
			}
		})
	}
}

func TestOpenCorruptState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := openSup(t, dir)
	inst := start(t, s1, helperSpec(t))
	waitHealthy(t, s1, inst.ID)
	s1.Close()
	killAtEnd(t, inst.PID)

	for _, content := range []string{`{"version":1,"instances":[{"id":`, `{"version":7,"instances":[]}`, `{"version":1,"instances":[{"id":"../x","port":1,"spec":{"exec":["a"]}}]}`} {
		if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, nil)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, stateFile)) || !strings.Contains(err.Error(), "none of the processes it lists were touched") {
			t.Errorf("Open of %s = %v", content, err)
		}
	}
	if !alive(inst.PID) {
		t.Fatal("Open of a corrupt state killed the process")
	}
	if _, err := get(inst.Port, "/health"); err != nil {
		t.Errorf("not serving: %v", err)
	}
}

func TestOneSupervisorPerDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSup(t, dir)
	if _, err := Open(dir, nil); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("second Open = %v", err)
	}
	s.Close()
	openSup(t, dir)
}

func TestOpenFinishesInterruptedStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pid, _ := detached(t, dir, helperSpec(t), "00000000deadbeef")
	st := readStateFile(t, dir)
	st.Instances[0].Stopping = true
	writeState(t, dir, st)

	s := openSup(t, dir)
	testutil.WaitFor(t, "the stop to finish", func() bool { _, ok := s.Get("00000000deadbeef"); return !ok })
	if alive(pid) {
		t.Error("the process whose stop was interrupted still runs")
	}
	if st := readStateFile(t, dir); len(st.Instances) != 0 {
		t.Errorf("state file %+v", st)
	}
}

// killAtEnd kills a process group a closed supervisor left running, in
// case the test fails before a new supervisor stops it.
func killAtEnd(t *testing.T, pgid int) {
	t.Cleanup(func() {
		if syscall.Kill(-pgid, syscall.SIGKILL) == nil {
			syscall.Wait4(pgid, nil, syscall.WNOHANG, nil)
		}
	})
}

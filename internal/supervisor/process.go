package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// proc is one running process of an instance. Only its monitor goroutine
// uses it.
type proc struct {
	pid        int
	startTicks uint64 // /proc/<pid>/stat field 22, to tell a reused PID from ours
	// child means we can wait() for it; otherwise (adopted from an earlier
	// agent) /proc is all we have.
	child bool
}

// spawn starts spec's process on port in its own process group, with
// stdout and stderr appended to logPath. There is deliberately no
// Pdeathsig: the process must outlive an agent restart.
func spawn(spec Spec, port int, logPath string, restarts int) (*proc, error) {
	ps := strconv.Itoa(port)
	argv := make([]string, len(spec.Exec))
	for i, a := range spec.Exec {
		argv[i] = strings.ReplaceAll(a, "${PORT}", ps)
	}
	env := make([]string, 0, len(spec.Env)+1)
	for _, kv := range spec.Env {
		if !strings.HasPrefix(kv, "PORT=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PORT="+ps)

	f, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "supervisor: starting %s %s on port %d (restart %d)\n", spec.Service, spec.Version, port, restarts)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = spec.Dir, env
	cmd.Stdout, cmd.Stderr = f, f // a file, not a pipe: writes must not depend on us being alive
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(f, "supervisor: could not start: %v\n", err)
		return nil, err
	}
	p := &proc{pid: cmd.Process.Pid, child: true}
	cmd.Process.Release() // we reap it ourselves, without a goroutine blocked in Wait
	st, err := readStat(p.pid)
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("reading the start time of pid %d: %w", p.pid, err)
	}
	p.startTicks = st.startTicks
	fmt.Fprintf(f, "supervisor: started pid %d\n", p.pid)
	return p, nil
}

// adopt picks up a process an earlier supervisor started, if pid still is
// that process: alive, not a zombie, and started at startTicks.
func adopt(pid int, startTicks uint64) (*proc, bool) {
	if pid <= 1 {
		return nil, false
	}
	st, err := readStat(pid)
	if err != nil || st.startTicks != startTicks {
		return nil, false // gone, or the PID now belongs to another process
	}
	p := &proc{pid: pid, startTicks: startTicks}
	var ws syscall.WaitStatus
	wpid, err := wait4(pid, &ws)
	switch {
	case err == nil && wpid == pid:
		return nil, false // our zombie, now reaped
	case err == nil && st.state == 'Z':
		// Our child, dead, but its other threads are still exiting so it
		// cannot be reaped yet: it will be in a moment.
		p.child = true
		p.kill()
		return nil, false
	case err == nil:
		p.child = true // the agent restarted in place (exec) or, in tests, reopened
	case st.state == 'Z':
		return nil, false // someone else's zombie
	}
	return p, true
}

// exited reports whether p has ended, and how.
func (p *proc) exited() (string, bool) {
	if p.child {
		var ws syscall.WaitStatus
		wpid, err := wait4(p.pid, &ws)
		switch {
		case err == nil && wpid == 0:
			return "", false
		case err == nil && wpid == p.pid:
			return describe(ws), true
		}
		return "exited (reaped elsewhere, status unknown)", true
	}
	st, err := readStat(p.pid)
	if err != nil || st.state == 'Z' || st.startTicks != p.startTicks {
		return "exited (adopted process, status unknown)", true
	}
	return "", false
}

// signal sends sig to p's process group, or to p alone if it has left the
// group. An adopted process is checked first, so that a PID reused since
// it died is never signalled.
func (p *proc) signal(sig syscall.Signal) {
	if p.pid <= 1 {
		return
	}
	if !p.child {
		if st, err := readStat(p.pid); err != nil || st.startTicks != p.startTicks {
			return
		}
	}
	if syscall.Kill(-p.pid, sig) == syscall.ESRCH {
		syscall.Kill(p.pid, sig)
	}
}

// kill ends a child that was started but must not run after all.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	if p.child {
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(p.pid, &ws, 0, nil); err != syscall.EINTR {
				return
			}
		}
	}
}

// killGroup SIGKILLs whatever is left in a process group whose leader has
// exited.
func killGroup(pgid int) {
	if pgid > 1 {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// groupAlive reports whether any live (non-zombie) process is in the
// group. Zombies count as gone: an orphan's zombie lingers when PID 1 does
// not reap, and must not hold up a stop.
func groupAlive(pgid int) bool {
	if pgid <= 1 || syscall.Kill(-pgid, 0) == syscall.ESRCH {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.pgrp == pgid && st.state != 'Z' {
			return true
		}
	}
	return false
}

func wait4(pid int, ws *syscall.WaitStatus) (int, error) {
	for {
		wpid, err := syscall.Wait4(pid, ws, syscall.WNOHANG, nil)
		if err != syscall.EINTR {
			return wpid, err
		}
	}
}

// describe words a wait status the way os/exec does.
func describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		s := "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// stat is what we need from /proc/<pid>/stat.
type stat struct {
	state      byte
	pgrp       int
	startTicks uint64
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	return parseStat(string(b))
}

// parseStat reads fields 3 (state), 5 (pgrp) and 22 (starttime) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may itself contain spaces and parentheses, so fields are counted from
// the last ')'.
func parseStat(line string) (stat, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return stat{}, errors.New("malformed /proc stat line")
	}
	f := strings.Fields(line[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return stat{}, errors.New("malformed /proc stat line")
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return stat{}, fmt.Errorf("malformed /proc stat line: %w", err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return stat{}, fmt.Errorf("malformed /proc stat line: %w", err)
	}
	return stat{state: f[0][0], pgrp: pgrp, startTicks: start}, nil
}

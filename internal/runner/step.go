package runner

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/shipgate/shipgate"
)

// runStep runs one step and returns its exit code. The command comes from
// the service file: run goes to /bin/sh -c as written, exec is used as argv
// directly. Release inputs never enter the command line; they are
// environment variables.
func (r *Runner) runStep(ctx context.Context, step shipgate.Step, dir string, env []string, logs *shipper) (int, error) {
	argv := step.Exec
	if len(argv) == 0 {
		argv = []string{"/bin/sh", "-c", step.Run}
	}
	stdout, stderr := logs.writer("stdout"), logs.writer("stderr")
	defer stdout.flush()
	defer stderr.flush()
	return r.runProcess(ctx, argv, dir, env, stdout, stderr)
}

// runProcess runs argv in its own process group. When ctx ends the whole
// group gets SIGTERM, then SIGKILL after KillGrace. When the step's own
// process exits, whatever it left running in its group is stopped the same
// way, so a step's children never outlive it, and a background child that
// still holds the output pipe cannot keep the step from ending.
func (r *Runner) runProcess(ctx context.Context, argv []string, dir string, env []string, stdout, stderr io.Writer) (int, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return -1, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = outW, errW // files, so Wait does not wait on pipe readers
	// Own process group, so the whole step can be signalled; and killed if
	// the runner itself dies, so a step never runs on unsupervised.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	startErr := cmd.Start()
	outW.Close()
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		return -1, startErr
	}
	var copying sync.WaitGroup
	copying.Add(2)
	go func() { defer copying.Done(); io.Copy(stdout, outR) }()
	go func() { defer copying.Done(); io.Copy(stderr, errR) }()
	copied := make(chan struct{})
	go func() { copying.Wait(); close(copied) }()

	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-exited:
		case <-ctx.Done():
			r.stopGroup(pgid, exited)
		}
	}()
	err = cmd.Wait()
	close(exited)
	<-stopped
	// The step is over: stop anything it left behind, then drain output.
	r.stopGroup(pgid, copied)
	select {
	case <-copied:
	case <-time.After(r.KillGrace):
		outR.Close() // a process that escaped the group still holds the pipe
		errR.Close()
		<-copied
	}
	outR.Close()
	errR.Close()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil // -1 when killed by a signal
		}
		return -1, err
	}
	return 0, nil
}

// stopGroup sends SIGTERM to the process group, and SIGKILL if done is not
// closed within KillGrace.
func (r *Runner) stopGroup(pgid int, done <-chan struct{}) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // nothing left in the group
	}
	t := time.NewTimer(r.KillGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

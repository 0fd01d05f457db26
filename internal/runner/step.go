package runner

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"syscall"
	"time"

	"github.com/shipgate/shipgate"
)

// runStep runs one step in its own process group and returns its exit code.
// When ctx ends the whole group gets SIGTERM, then SIGKILL after KillGrace,
// so a step's children cannot outlive it. The command comes from the service
// file: run goes to /bin/sh -c as written, exec is used as argv directly.
// Release inputs never enter the command line; they are environment
// variables.
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

func (r *Runner) runProcess(ctx context.Context, argv []string, dir string, env []string, stdout, stderr io.Writer) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(r.KillGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	err := cmd.Wait()
	close(done)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil // -1 when killed by a signal
		}
		return -1, err
	}
	return 0, nil
}

package supervisor

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// instance is the supervisor's record of one Instance. Its fields are
// guarded by Supervisor.mu, except what its monitor goroutine owns: the
// process itself.
type instance struct {
	info       Instance
	startTicks uint64 // /proc start time of info.PID

	// ctx ends when the instance is stopped or the supervisor closed;
	// stopping tells which.
	ctx       context.Context
	cancel    context.CancelFunc
	stopping  bool
	forgotten bool          // stopped for good: left out of the state file
	kill      chan struct{} // closed when a Stop's ctx ends: SIGKILL now
	killOnce  sync.Once
	done      chan struct{} // closed when the monitor goroutine returns

	// changed is closed and replaced on every change, to wake WaitHealthy.
	changed chan struct{}

	everHealthy  bool
	crashes      int    // exits before everHealthy
	probeErr     string // why the latest probe failed
	healthySince time.Time
	backoff      time.Duration // delay before the next restart
}

func newInstance(parent context.Context, info Instance) *instance {
	ctx, cancel := context.WithCancel(parent)
	return &instance{
		info:    info,
		ctx:     ctx,
		cancel:  cancel,
		kill:    make(chan struct{}),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
}

func (in *instance) snapshot() Instance {
	i := in.info
	i.Spec = i.Spec.clone()
	return i
}

// notify wakes everyone waiting on a change. Called with mu held.
func (in *instance) notify() {
	close(in.changed)
	in.changed = make(chan struct{})
}

func (in *instance) killNow() { in.killOnce.Do(func() { close(in.kill) }) }

// supervise is an instance's monitor: it watches the running process p
// (nil when it must be started first), probes it, restarts it with backoff
// when it exits, and stops it when asked. It returns when the instance is
// stopped or the supervisor closed, leaving a running process running in
// the latter case.
func (s *Supervisor) supervise(in *instance, p *proc) {
	defer s.wg.Done()
	defer close(in.done)
	for {
		if p != nil {
			exit, exited := s.watch(in, p)
			if !exited {
				if s.isStopping(in) {
					s.terminate(in, p)
					s.forget(in)
				}
				return
			}
			s.exited(in, p, exit)
			p = nil
		}
		s.mu.Lock()
		delay := in.backoff
		s.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-in.ctx.Done():
			t.Stop()
			if s.isStopping(in) {
				s.forget(in)
			}
			return
		case <-t.C:
		}
		p = s.restart(in)
	}
}

func (s *Supervisor) isStopping(in *instance) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return in.stopping
}

// watch returns how p ended once it has exited, probing its health every
// HealthInterval meanwhile; exited is false when the instance's ctx ended
// first.
func (s *Supervisor) watch(in *instance, p *proc) (exit string, exited bool) {
	s.mu.Lock()
	spec, port, logPath := in.info.Spec, in.info.Port, in.info.LogPath
	s.mu.Unlock()

	poll := time.NewTicker(s.tune.poll)
	defer poll.Stop()
	probeAt := time.NewTimer(0)
	defer probeAt.Stop()
	probeCtx, cancelProbe := context.WithCancel(in.ctx)
	results := make(chan error, 1)
	probing := false
	defer func() {
		cancelProbe()
		if probing {
			<-results
		}
	}()
	lastRotate := time.Now()
	for {
		select {
		case <-in.ctx.Done():
			return "", false
		case <-poll.C:
			if exit, ok := p.exited(); ok {
				return exit, true
			}
			if time.Since(lastRotate) >= time.Second {
				lastRotate = time.Now()
				if err := rotateLog(logPath, s.tune.logCap); err != nil {
					s.log.Warn("supervisor: rotating log", "id", in.info.ID, "err", err)
				}
			}
		case <-probeAt.C:
			probing = true
			go func() { results <- s.probe(probeCtx, spec, port) }()
		case err := <-results:
			probing = false
			// A probe that failed because the process died says nothing
			// new: report the exit instead.
			if exit, ok := p.exited(); ok {
				return exit, true
			}
			probeAt.Reset(s.probed(in, err))
		}
	}
}

// probed records a probe's result and returns when to probe next.
func (s *Supervisor) probed(in *instance, err error) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.stopping {
		return time.Hour // ctx ends right away
	}
	old := in.info.State
	now := time.Now()
	if err == nil {
		in.info.State = StateHealthy
		in.everHealthy = true
		in.probeErr = ""
		if in.healthySince.IsZero() {
			in.healthySince = now
		}
		if now.Sub(in.healthySince) >= s.tune.backoffReset {
			in.backoff = 0
		}
	} else {
		in.probeErr = err.Error()
		in.healthySince = time.Time{}
		if old == StateHealthy {
			in.info.State = StateUnhealthy
		}
	}
	if in.info.State != old {
		s.log.Info("supervisor: health", "id", in.info.ID, "service", in.info.Spec.Service, "state", in.info.State, "probe", in.probeErr)
		in.notify()
	}
	next := in.info.Spec.healthInterval()
	if in.info.State == StateStarting {
		next = min(next, s.tune.startProbe)
	}
	return next
}

// exited records that p ended, stops what it left in its process group
// (a leftover would hold the port and break the restart), and schedules
// the restart.
func (s *Supervisor) exited(in *instance, p *proc, exit string) {
	if p != nil {
		killGroup(p.pid) // what the process left behind
	}
	s.mu.Lock()
	if !in.stopping {
		in.info.State = StateBackoff
	}
	in.info.LastExit = exit
	in.info.PID = 0
	in.startTicks = 0
	in.healthySince = time.Time{}
	if !in.everHealthy {
		in.crashes++
	}
	in.backoff = nextBackoff(in.backoff, s.tune.backoffMin, s.tune.backoffMax)
	info, delay := in.info, in.backoff
	in.notify()
	s.mu.Unlock()
	appendLog(info.LogPath, fmt.Sprintf("supervisor: %s; restarting in %s", exit, delay))
	s.log.Warn("supervisor: exited", "id", info.ID, "service", info.Spec.Service, "exit", exit, "restart_in", delay)
	// No state write here: the restart writes the new pid, and a start in
	// between finds the old one dead (or reused) and restarts it anyway.
}

// nextBackoff doubles the restart delay from min up to max.
func nextBackoff(prev, lo, hi time.Duration) time.Duration {
	if prev < lo {
		return lo
	}
	return min(prev*2, hi)
}

// restart starts the instance's process again, as our child, on the same
// port. A failure to start counts as a crash; nil is returned then.
func (s *Supervisor) restart(in *instance) *proc {
	s.mu.Lock()
	info := in.info
	s.mu.Unlock()
	p, err := spawn(info.Spec, info.Port, info.LogPath, info.Restarts+1)
	s.mu.Lock()
	in.info.Restarts++
	if err == nil {
		in.info.PID, in.startTicks = p.pid, p.startTicks
		if !in.stopping {
			in.info.State = StateStarting
		}
		in.info.StartedAt = time.Now()
		in.info.Adopted = false
		in.probeErr = ""
		in.notify()
	}
	restarts := in.info.Restarts
	s.mu.Unlock()
	if err != nil {
		s.exited(in, nil, fmt.Sprintf("could not start: %v", err))
		return nil
	}
	s.log.Info("supervisor: restarted", "id", info.ID, "service", info.Spec.Service, "pid", p.pid, "port", info.Port, "restarts", restarts)
	if err := s.persist(); err != nil {
		s.log.Error("supervisor: writing state", "err", err)
	}
	return p
}

// terminate stops p's process group: SIGTERM, then SIGKILL when the group
// has not gone within the grace (or at once when a Stop's ctx ended).
func (s *Supervisor) terminate(in *instance, p *proc) {
	s.mu.Lock()
	grace, logPath := in.info.Spec.stopGrace(), in.info.LogPath
	s.mu.Unlock()
	p.signal(syscall.SIGTERM)
	poll := time.NewTicker(s.tune.poll / 2)
	defer poll.Stop()
	graceT := time.NewTimer(grace)
	defer graceT.Stop()
	exit, leaderGone := "", false
	waitGroup := func() bool {
		if !leaderGone {
			exit, leaderGone = p.exited()
		}
		return leaderGone && !groupAlive(p.pid)
	}
	killed := false
wait:
	for !waitGroup() {
		select {
		case <-poll.C:
		case <-graceT.C:
			killed = true
			break wait
		case <-in.kill:
			killed = true
			break wait
		}
	}
	if killed {
		if !leaderGone {
			p.signal(syscall.SIGKILL)
		} else {
			killGroup(p.pid)
		}
		deadline := time.Now().Add(s.tune.killWait)
		for !waitGroup() && time.Now().Before(deadline) {
			<-poll.C
		}
		if !leaderGone {
			s.log.Error("supervisor: process did not exit after SIGKILL", "id", in.info.ID, "pid", p.pid)
			exit = "did not exit after SIGKILL"
		}
	}
	appendLog(logPath, fmt.Sprintf("supervisor: stopped pid %d: %s", p.pid, exit))
	s.log.Info("supervisor: stopped", "id", in.info.ID, "pid", p.pid, "exit", exit, "killed", killed)
}

// forget removes a stopped instance and records that.
func (s *Supervisor) forget(in *instance) {
	// The state file first, then the map: once Get says an instance is
	// gone, the next start of the agent will not bring it back.
	s.mu.Lock()
	in.forgotten = true
	s.mu.Unlock()
	if err := s.persist(); err != nil {
		s.log.Error("supervisor: writing state", "err", err)
	}
	s.mu.Lock()
	in.info.State = StateStopped
	in.info.PID = 0
	delete(s.instances, in.info.ID)
	in.notify()
	s.mu.Unlock()
}

package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shipgate/shipgate"
)

// Spec is what the runner asks to keep running: one version of one
// service's artifact, started the same way every time it is restarted.
type Spec struct {
	// Service is what the instance belongs to (e.g. "web/prod/deploy"), for
	// people reading logs and listings.
	Service string `json:"service"`
	// Version is the release version the artifact carries, for the same
	// readers.
	Version string `json:"version"`
	// Digest is the artifact's sha256, so a listing says exactly what runs.
	Digest string `json:"digest"`
	// Dir is the working directory: the unpacked artifact.
	Dir string `json:"dir"`
	// Exec is the argv, run without a shell; every "${PORT}" in any
	// argument becomes the instance's port.
	Exec []string `json:"exec"`
	// Env is the whole environment (KEY=VALUE) besides PORT, which the
	// supervisor adds: nothing leaks in from the agent's own environment.
	Env []string `json:"env,omitempty"`
	// HealthPath "" means a TCP connect to 127.0.0.1:PORT; otherwise GET
	// http://127.0.0.1:PORT<path> must answer 2xx.
	HealthPath string `json:"health_path,omitempty"`
	// HealthInterval is the time between probes; 0 means 1s.
	HealthInterval time.Duration `json:"health_interval,omitempty"`
	// HealthTimeout bounds one probe; 0 means 2s.
	HealthTimeout time.Duration `json:"health_timeout,omitempty"`
	// StopGrace is the time between SIGTERM and SIGKILL; 0 means 10s.
	StopGrace time.Duration `json:"stop_grace,omitempty"`
}

func (s Spec) healthInterval() time.Duration { return orDefault(s.HealthInterval, time.Second) }
func (s Spec) healthTimeout() time.Duration  { return orDefault(s.HealthTimeout, 2*time.Second) }
func (s Spec) stopGrace() time.Duration {
	return orDefault(s.StopGrace, shipgate.DefaultStopGrace.Std())
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s Spec) clone() Spec {
	s.Exec = slices.Clone(s.Exec)
	s.Env = slices.Clone(s.Env)
	return s
}

func (s Spec) validate() error {
	if len(s.Exec) == 0 || s.Exec[0] == "" {
		return shipgate.Errorf(shipgate.EINVALID, "a supervised service needs a command (exec)")
	}
	for _, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return shipgate.Errorf(shipgate.EINVALID, "environment entry %q is not KEY=VALUE", kv)
		}
	}
	return nil
}

// State is what the runner needs to know to route traffic to an instance
// (only a healthy one gets any) and to explain one that gets none.
type State string

// States of an instance.
const (
	// StateStarting: the current process has not passed a probe yet.
	StateStarting State = "starting"
	// StateHealthy: the latest probe passed.
	StateHealthy State = "healthy"
	// StateUnhealthy: the latest probe failed after one had passed.
	StateUnhealthy State = "unhealthy"
	// StateBackoff: the process exited and waits to be restarted.
	StateBackoff State = "backoff"
	// StateStopped: Stop was called; the instance is being (or has been)
	// stopped and forgotten.
	StateStopped State = "stopped"
)

// Instance is a snapshot of one supervised process, as the runner reports
// it and as the supervisor remembers it across agent restarts.
type Instance struct {
	// ID names the instance in every call and its log file; it never
	// changes, whatever restarts or agent restarts happen.
	ID string
	// Spec is what Start was given, kept so restarts run the same thing.
	Spec Spec
	// Port stays the same across restarts, so the router's target does not
	// move.
	Port int
	// PID is the current process, also its process group; 0 while in
	// backoff.
	PID int
	// State is the latest thing known: backoff after an exit, otherwise
	// the latest probe's verdict.
	State State
	// Restarts counts every start after the first, including those Open
	// does for a process that died while no supervisor ran.
	Restarts int
	// LastExit says how the previous process ended, e.g. "exit status 1"
	// or "signal: killed".
	LastExit string
	// StartedAt is when the current process started.
	StartedAt time.Time
	// Adopted is set when the process was started by an earlier agent and
	// picked up again by Open: it is not our child, so it is watched
	// through /proc instead of wait().
	Adopted bool
	// LogPath is where the process's stdout and stderr go.
	LogPath string
}

// Supervisor keeps services running on this agent: it starts them, probes
// their health, restarts them when they crash, and remembers them on disk
// so that a restarted agent picks them up again instead of starting over.
type Supervisor struct {
	dir    string
	log    *slog.Logger
	tune   tuning
	bootID string
	client *http.Client

	lock   *os.File        // flock on dir/lock: one supervisor per directory
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per monitor goroutine

	persistMu sync.Mutex // serialises state file writes, taken before mu

	mu        sync.Mutex
	closed    bool
	instances map[string]*instance
	reserved  map[int]bool // ports handed out to Starts still spawning
}

// tuning holds the supervisor's timing and size constants; tests shrink
// some of them.
type tuning struct {
	backoffMin   time.Duration // first restart delay
	backoffMax   time.Duration // cap of the doubling
	backoffReset time.Duration // healthy this long resets the backoff
	poll         time.Duration // how often a process is checked for exit
	startProbe   time.Duration // probe interval cap until the first pass
	crashLimit   int           // crashes before healthy that fail WaitHealthy
	logCap       int64         // a log over this is rotated to .1
	killWait     time.Duration // how long to wait for a SIGKILLed process
}

var defaultTuning = tuning{
	backoffMin:   200 * time.Millisecond,
	backoffMax:   10 * time.Second,
	backoffReset: 10 * time.Second,
	poll:         100 * time.Millisecond,
	startProbe:   200 * time.Millisecond,
	crashLimit:   3,
	logCap:       10 << 20,
	killWait:     5 * time.Second,
}

// Open starts supervising from the state kept in dir (dir/state.json, logs
// in dir/logs). Every instance the state lists is re-adopted if its process
// still runs, and restarted otherwise; see the package documentation. A
// state file that cannot be read is an error, and then nothing is touched;
// so is a directory another supervisor has open (shipgate.ECONFLICT).
func Open(dir string, logger *slog.Logger) (*Supervisor, error) {
	return open(dir, logger, defaultTuning)
}

func open(dir string, logger *slog.Logger, tune tuning) (*Supervisor, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("supervisor directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	st, err := readState(filepath.Join(dir, stateFile))
	if err != nil {
		lock.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{
		dir:    dir,
		lock:   lock,
		log:    logger,
		tune:   tune,
		bootID: bootID(),
		client: &http.Client{
			Transport:     &http.Transport{DisableKeepAlives: true}, // nothing idle left after Close
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ctx:       ctx,
		cancel:    cancel,
		instances: map[string]*instance{},
		reserved:  map[int]bool{},
	}
	s.recover(st)
	if err := s.persist(); err != nil {
		s.log.Error("supervisor: writing state", "err", err)
	}
	return s, nil
}

// Start allocates a free loopback port, starts the process and records it,
// so the instance is restarted on crashes and survives agent restarts. It
// returns once the process runs; WaitHealthy waits for it to serve.
func (s *Supervisor) Start(spec Spec) (Instance, error) {
	spec = spec.clone()
	if err := spec.validate(); err != nil {
		return Instance{}, err
	}
	id, err := newID()
	if err != nil {
		return Instance{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Instance{}, errClosed
	}
	port, err := s.allocPort()
	if err != nil {
		s.mu.Unlock()
		return Instance{}, err
	}
	s.reserved[port] = true
	s.mu.Unlock()

	logPath := s.logPath(id)
	p, err := spawn(spec, port, logPath, 0)
	s.mu.Lock()
	delete(s.reserved, port)
	if err == nil && s.closed {
		err = errClosed
	}
	if err != nil {
		s.mu.Unlock()
		if p != nil {
			p.kill()
		}
		os.Remove(logPath) // nobody will ever know this id
		return Instance{}, fmt.Errorf("starting %s: %w", spec.Service, err)
	}
	in := newInstance(s.ctx, Instance{
		ID: id, Spec: spec, Port: port, PID: p.pid, State: StateStarting,
		StartedAt: time.Now(), LogPath: logPath,
	})
	in.startTicks = p.startTicks
	s.instances[id] = in
	s.wg.Add(1)
	go s.supervise(in, p)
	s.mu.Unlock()

	if err := s.persist(); err != nil {
		// A process the state file does not list would be orphaned by the
		// next agent restart: better not to run it at all.
		s.mu.Lock()
		in.stopping = true
		s.mu.Unlock()
		in.killNow()
		in.cancel()
		<-in.done
		return Instance{}, fmt.Errorf("starting %s: recording it: %w", spec.Service, err)
	}
	s.log.Info("supervisor: started", "id", id, "service", spec.Service, "version", spec.Version, "pid", p.pid, "port", port)
	s.mu.Lock()
	defer s.mu.Unlock()
	return in.snapshot(), nil
}

// WaitHealthy returns once the instance has passed a health probe. It fails
// when ctx ends, when the instance is stopped, and when it has exited 3
// times without ever being healthy — then the error carries the last exit
// and the end of its log, which is usually why. Errors other than ctx's
// carry shipgate.ENOTFOUND or EFAILEDPRECONDITION.
func (s *Supervisor) WaitHealthy(ctx context.Context, id string) error {
	s.mu.Lock()
	in, ok := s.instances[id]
	s.mu.Unlock()
	if !ok {
		return notFound(id)
	}
	for {
		s.mu.Lock()
		everHealthy, stopping, crashes := in.everHealthy, in.stopping, in.crashes
		info, probeErr, changed := in.snapshot(), in.probeErr, in.changed
		s.mu.Unlock()
		switch {
		case everHealthy:
			return nil
		case stopping:
			return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "instance %s of %s was stopped before it became healthy", id, info.Spec.Service)
		case crashes >= s.tune.crashLimit:
			return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "instance %s of %s exited %d times before it became healthy; last exit: %s%s",
				id, info.Spec.Service, crashes, info.LastExit, formatTail(tailLog(info.LogPath, tailLines)))
		}
		select {
		case <-changed:
		case <-s.ctx.Done():
			return errClosed
		case <-ctx.Done():
			s.mu.Lock()
			info, probeErr = in.snapshot(), in.probeErr
			s.mu.Unlock()
			why := string(info.State)
			if probeErr != "" {
				why += ", last probe: " + probeErr
			}
			if info.LastExit != "" {
				why += ", last exit: " + info.LastExit
			}
			return fmt.Errorf("instance %s of %s not healthy (%s): %w", id, info.Spec.Service, why, ctx.Err())
		}
	}
}

// Get returns a snapshot of one instance; false once it is stopped (or was
// never started here).
func (s *Supervisor) Get(id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	if !ok {
		return Instance{}, false
	}
	return in.snapshot(), true
}

// List returns snapshots of every instance, ordered by ID, so the runner
// can report and reconcile what this agent runs.
func (s *Supervisor) List() []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, 0, len(s.instances))
	for _, in := range s.instances {
		out = append(out, in.snapshot())
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Stop ends an instance for good: SIGTERM to its process group, SIGKILL
// after StopGrace (or at once when ctx ends first, and then Stop returns
// ctx's error), and it is forgotten and removed from the state file.
// Adopted instances are stopped the same way.
func (s *Supervisor) Stop(ctx context.Context, id string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	in, ok := s.instances[id]
	if !ok {
		s.mu.Unlock()
		return notFound(id)
	}
	if !in.stopping {
		in.stopping = true
		in.info.State = StateStopped
		in.notify()
	}
	s.mu.Unlock()
	if err := s.persist(); err != nil {
		s.log.Error("supervisor: writing state", "err", err)
	}
	in.cancel()
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		in.killNow()
		<-in.done
		return fmt.Errorf("stopping instance %s: killed before its grace ran out: %w", id, ctx.Err())
	}
}

// StopAll stops every instance concurrently, as when a service is removed
// from this agent or the agent is decommissioned.
func (s *Supervisor) StopAll(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, in := range s.List() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Stop(ctx, in.ID); err != nil && shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops supervising but leaves every process running, for an agent
// restart or upgrade: the next Open re-adopts them. Stops already in
// progress finish first.
func (s *Supervisor) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.client.CloseIdleConnections()
	s.lock.Close() // releases the flock
}

// lockPatience is how long lockDir waits for a lock held by another.
const lockPatience = 2 * time.Second

// lockDir takes an exclusive lock on dir, so that two agents (or an agent
// and its not-quite-exited predecessor) never supervise, and restart, the
// same processes. The descriptor is close-on-exec: services do not hold it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("supervisor lock: %w", err)
	}
	// A lock just released can still be held for a moment by a child
	// forked elsewhere in this process that has not yet exec'd (close-on-
	// exec closes the descriptor only at exec), or by a predecessor that
	// is exiting: ask again for a short while before calling it a conflict.
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	for wait := time.Now().Add(lockPatience); errors.Is(err, syscall.EWOULDBLOCK) && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, shipgate.Errorf(shipgate.ECONFLICT, "another shipgate process supervises the services in %s: a server or agent still running (or still shutting down) on the same data or work directory; stop it first, or use another directory", dir)
		}
		return nil, fmt.Errorf("supervisor lock: %w", err)
	}
	return f, nil
}

var errClosed = shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the supervisor is closed")

func notFound(id string) error {
	return shipgate.Errorf(shipgate.ENOTFOUND, "no supervised instance %s", id)
}

func (s *Supervisor) logPath(id string) string {
	return filepath.Join(s.dir, "logs", id+".log")
}

// allocPort finds a free loopback port that no instance of ours holds,
// even one in backoff that is not listening right now. Called with mu held.
func (s *Supervisor) allocPort() (int, error) {
	used := map[int]bool{}
	for _, in := range s.instances {
		used[in.info.Port] = true
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("allocating a port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !used[port] && !s.reserved[port] {
			return port, nil
		}
	}
	return 0, errors.New("allocating a port: no free loopback port")
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// bootID tells this boot from the previous one: after a reboot nothing
// from the state file can still be running, whatever /proc says about a
// PID that happens to match.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

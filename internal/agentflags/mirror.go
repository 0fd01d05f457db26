package agentflags

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/durable"
	"github.com/shipgate/shipgate/internal/ofrep"
)

// Fetcher reads an environment's flags from the server: client.Agent.
type Fetcher interface {
	Flags(ctx context.Context, env, etag string, wait time.Duration) (*client.AgentFlags, error)
}

// Defaults of a Mirror.
const (
	DefaultWait       = 30 * time.Second
	DefaultStaleAfter = 2 * time.Minute
	// MaxEnvironments bounds the environments one agent mirrors.
	MaxEnvironments = 64
)

// Mirror keeps the live flags of some environments, from the server and
// on disk. Create it with NewMirror, add environments with Watch, and run
// it with Run; it is a Source for the OFREP handler.
type Mirror struct {
	// Dir keeps one file per environment (ENV.json, mode 0600).
	Dir    string
	Logger *slog.Logger
	// Wait is how long each long poll waits for a change (DefaultWait).
	Wait time.Duration
	// StaleAfter: flags not confirmed by the server for this long are
	// served marked stale (DefaultStaleAfter).
	StaleAfter time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	mu      sync.Mutex
	envs    map[string]*envFlags
	fetch   Fetcher         // nil until SetFetcher: serving from disk only
	ctx     context.Context // Run's; nil before Run
	started map[string]bool
	wake    chan struct{} // closed and replaced when any environment changes
	running sync.WaitGroup
}

// envFlags is the mirrored flags of one environment.
type envFlags struct {
	flags  *client.AgentFlags // nil: never had any
	snap   *ofrep.Snapshot
	synced time.Time // last answer of the server (200 or 304)
	err    error     // last failure to reach the server, nil after a success
}

// savedFlags is the file of one environment.
type savedFlags struct {
	Flags  *client.AgentFlags `json:"flags"`
	ETag   string             `json:"etag"`
	Synced time.Time          `json:"synced_at"`
}

// NewMirror opens a mirror over dir, loading the flags it kept there: they
// are served at once, before the server is reached.
func NewMirror(dir string, logger *slog.Logger) (*Mirror, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Mirror{Dir: dir, Logger: logger, envs: map[string]*envFlags{}, started: map[string]bool{}, wake: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var s savedFlags
		if err := json.Unmarshal(b, &s); err != nil || s.Flags == nil || shipgate.ValidateName("environment", s.Flags.Environment) != nil ||
			filepath.Base(f) != s.Flags.Environment+".json" {
			logger.Warn("ignoring a kept flags file that cannot be read", "file", f, "err", err)
			continue
		}
		s.Flags.ETag = s.ETag
		m.envs[s.Flags.Environment] = &envFlags{flags: s.Flags, snap: snapshot(s.Flags), synced: s.Synced}
		m.started[s.Flags.Environment] = false // served before: followed again
	}
	return m, nil
}

func (m *Mirror) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func snapshot(fs *client.AgentFlags) *ofrep.Snapshot {
	states := make([]shipgate.FlagState, len(fs.Flags))
	for i, f := range fs.Flags {
		states[i] = shipgate.FlagState{Service: f.Service, Environment: fs.Environment, Flag: f.Flag}
	}
	return ofrep.NewSnapshot(fs.Environment, fs.Generation, states)
}

// SetFetcher connects the mirror to the server (once the agent has
// registered); until then it serves what it kept on disk.
func (m *Mirror) SetFetcher(f Fetcher) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetch = f
	m.startLocked()
}

// Watch adds env to the environments the mirror follows. It refuses an
// invalid name or one more than MaxEnvironments.
func (m *Mirror) Watch(env string) error {
	if err := shipgate.ValidateName("environment", env); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.envs[env]; !ok {
		if len(m.envs) >= MaxEnvironments {
			return fmt.Errorf("an agent serves the flags of at most %d environments", MaxEnvironments)
		}
		m.envs[env] = &envFlags{}
	}
	if _, ok := m.started[env]; !ok {
		m.started[env] = false // followed once Run and SetFetcher have been called
	}
	m.startLocked()
	return nil
}

// Run follows the watched environments until ctx ends, and returns once
// every follower has stopped.
func (m *Mirror) Run(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	m.startLocked()
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	m.fetch = nil // no follower starts any more
	m.mu.Unlock()
	m.running.Wait()
}

// startLocked starts a follower for each watched environment that has
// none, once Run and SetFetcher have both been called.
func (m *Mirror) startLocked() {
	if m.ctx == nil || m.fetch == nil || m.ctx.Err() != nil {
		return
	}
	ctx, fetch := m.ctx, m.fetch
	for env, started := range m.started {
		if !started {
			m.started[env] = true
			m.running.Add(1)
			go func() { defer m.running.Done(); m.follow(ctx, env, fetch) }()
		}
	}
}

// follow keeps env's flags: one long poll at a time, a retry with backoff
// when the server cannot be reached.
func (m *Mirror) follow(ctx context.Context, env string, fetch Fetcher) {
	wait := m.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	backoff := time.Second
	for ctx.Err() == nil {
		m.mu.Lock()
		etag := ""
		if e := m.envs[env]; e.flags != nil {
			etag = e.flags.ETag
		}
		m.mu.Unlock()
		fs, err := fetch.Flags(ctx, env, etag, wait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.failed(env, err, backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second) // a kill must not wait long for a server back up
			if c := shipgate.ErrorCode(err); c == shipgate.EFORBIDDEN || c == shipgate.EUNAUTHORIZED {
				backoff = time.Minute // refused: asking again soon will not help
			}
			continue
		}
		backoff = time.Second
		m.got(env, fs)
	}
}

func (m *Mirror) failed(env string, err error, retry time.Duration) {
	m.mu.Lock()
	e := m.envs[env]
	first := e.err == nil
	e.err = err
	m.mu.Unlock()
	if first {
		m.Logger.Warn("cannot read flags from the server; serving the last known ones", "environment", env, "err", err, "retry_in", retry)
	}
}

// got records an answer of the server: fs, or nil for "unchanged".
func (m *Mirror) got(env string, fs *client.AgentFlags) {
	now := m.now()
	m.mu.Lock()
	e := m.envs[env]
	if e.err != nil {
		m.Logger.Info("reading flags from the server again", "environment", env)
	}
	e.err, e.synced = nil, now
	if fs != nil {
		e.flags, e.snap = fs, snapshot(fs)
		close(m.wake)
		m.wake = make(chan struct{})
	}
	cur := e.flags
	m.mu.Unlock()
	if cur == nil {
		return
	}
	// Every answer is kept (a 304 too, for its time): a restart knows
	// how old its flags are.
	b, err := json.Marshal(savedFlags{Flags: cur, ETag: cur.ETag, Synced: now})
	if err == nil {
		err = durable.WriteFile(filepath.Join(m.Dir, env+".json"), b)
	}
	if err != nil {
		m.Logger.Warn("cannot keep the flags on disk; a restart without the server would not serve them", "environment", env, "err", err)
	}
}

// Flags returns env's snapshot (ofrep.Source). An environment the mirror
// has no flags for is an error the handler answers 500 to; Local answers
// it first with a clearer 404.
func (m *Mirror) Flags(_ context.Context, env string) (*ofrep.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.envs[env]; ok && e.snap != nil {
		return e.snap, nil
	}
	return nil, shipgate.Errorf(shipgate.ENOTFOUND, "this agent has no flags of environment %s", env)
}

// Status is what the mirror knows of one environment.
type Status struct {
	Environment string    `json:"environment"`
	Generation  int64     `json:"generation"`
	Flags       int       `json:"flags"`
	Known       bool      `json:"known"` // has flags to serve
	SyncedAt    time.Time `json:"synced_at,omitzero"`
	// Stale says the server has not confirmed these flags for StaleAfter:
	// they are served all the same.
	Stale bool   `json:"stale"`
	Error string `json:"error,omitempty"`
}

// Status reports on env; ok is false for an environment not mirrored.
func (m *Mirror) Status(env string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.envs[env]
	if !ok {
		return Status{}, false
	}
	return m.statusLocked(env, e), true
}

// Statuses reports on every mirrored environment, by name.
func (m *Mirror) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.envs))
	for env, e := range m.envs {
		out = append(out, m.statusLocked(env, e))
	}
	slices.SortFunc(out, func(a, b Status) int {
		if a.Environment < b.Environment {
			return -1
		}
		return 1
	})
	return out
}

func (m *Mirror) statusLocked(env string, e *envFlags) Status {
	s := Status{Environment: env, Known: e.flags != nil, SyncedAt: e.synced}
	if e.flags != nil {
		s.Generation, s.Flags = e.flags.Generation, len(e.flags.Flags)
	}
	stale := m.StaleAfter
	if stale <= 0 {
		stale = DefaultStaleAfter
	}
	s.Stale = s.Known && m.now().Sub(e.synced) > stale
	if e.err != nil {
		s.Error = e.err.Error()
	}
	return s
}

// WaitKnown waits until the mirror has flags of env (from disk or the
// server) or ctx ends.
func (m *Mirror) WaitKnown(ctx context.Context, env string) error {
	for {
		m.mu.Lock()
		e, ok := m.envs[env]
		known, wake := ok && e.flags != nil, m.wake
		m.mu.Unlock()
		if known {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// current returns env's flags, nil when unknown.
func (m *Mirror) current(env string) *client.AgentFlags {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.envs[env]; ok {
		return e.flags
	}
	return nil
}

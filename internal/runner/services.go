package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/durable"
	"github.com/shipgate/shipgate/internal/router"
	"github.com/shipgate/shipgate/internal/supervisor"
)

// Services is what an agent runs between jobs: the supervised service
// processes, the traffic router in front of them, and which instance is the
// stable version of each service. A rollout job changes it; it survives an
// agent restart through two files in its directory (the supervisor's
// state, and services.json here).
type Services struct {
	Sup    *supervisor.Supervisor
	Router *router.Router
	dir    string
	log    *slog.Logger

	mu    sync.Mutex
	state map[string]*serviceState // by service key
	locks map[string]chan struct{} // one rollout per service at a time
	timer map[string]*time.Timer   // scale-down of standby instances
}

// serviceState is the persisted view of one service on this agent.
type serviceState struct {
	Key    string `json:"key"`
	Listen string `json:"listen"`
	// Stable is the instance taking the traffic.
	Stable string `json:"stable,omitempty"`
	// Standby is the previous stable instance, kept running until
	// RetireAt so that switching back to it is instant (blue-green).
	Standby  string    `json:"standby,omitempty"`
	RetireAt time.Time `json:"retire_at,omitempty"`
}

// OpenServices loads the agent's services from dir: the supervisor
// re-adopts (or restarts) the processes, the router serves each service's
// stable instance again, and any instance that was a canary of a rollout
// the restart interrupted is stopped — that rollout's attempt is reported
// failed by the journal, so it must not keep traffic.
func OpenServices(dir string, log *slog.Logger) (*Services, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sup, err := supervisor.Open(filepath.Join(dir, "supervisor"), log)
	if err != nil {
		return nil, fmt.Errorf("service supervisor: %w", err)
	}
	s := &Services{Sup: sup, Router: router.New(log), dir: dir, log: log,
		state: map[string]*serviceState{}, locks: map[string]chan struct{}{}, timer: map[string]*time.Timer{}}
	b, err := os.ReadFile(s.statePath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		sup.Close()
		return nil, err
	default:
		var states []*serviceState
		if err := json.Unmarshal(b, &states); err != nil {
			sup.Close()
			return nil, fmt.Errorf("%s: %w", s.statePath(), err)
		}
		for _, st := range states {
			s.state[st.Key] = st
		}
	}
	keep := map[string]bool{}
	for _, st := range s.state {
		if _, ok := sup.Get(st.Stable); !ok {
			st.Stable = ""
		}
		if _, ok := sup.Get(st.Standby); !ok {
			st.Standby = ""
		}
		keep[st.Stable], keep[st.Standby] = true, true
		if st.Stable == "" {
			continue
		}
		if err := s.Router.Serve(st.Key, st.Listen); err != nil {
			log.Error("cannot serve a service again after a restart", "service", st.Key, "listen", st.Listen, "err", err)
			continue
		}
		s.Router.Set(st.Key, router.Table{Stable: s.backend(st.Stable)})
		if st.Standby != "" {
			s.retireLater(st.Key, st.Standby, time.Until(st.RetireAt))
		}
	}
	for _, in := range sup.List() {
		if !keep[in.ID] {
			log.Warn("stopping an instance no rollout holds any more (interrupted by a restart)", "instance", in.ID, "version", in.Spec.Version)
			s.stop(in.ID)
		}
	}
	return s, s.save()
}

func (s *Services) statePath() string { return filepath.Join(s.dir, "services.json") }

// save writes services.json atomically. Callers hold mu or own s alone.
func (s *Services) save() error {
	states := make([]*serviceState, 0, len(s.state))
	for _, st := range s.state {
		states = append(states, st)
	}
	b, err := json.MarshalIndent(states, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(s.statePath(), b)
}

// backend is the router's view of an instance; nil for none.
func (s *Services) backend(id string) *router.Backend {
	in, ok := s.Sup.Get(id)
	if !ok {
		return nil
	}
	return &router.Backend{ID: in.ID, Version: in.Spec.Version, Addr: fmt.Sprintf("127.0.0.1:%d", in.Port)}
}

// lock serialises rollouts of one service. waiting, if set, is called
// once when the lock is held by another rollout; the wait ends with ctx.
func (s *Services) lock(ctx context.Context, key string, waiting func()) (func(), error) {
	s.mu.Lock()
	l := s.locks[key]
	if l == nil {
		l = make(chan struct{}, 1)
		s.locks[key] = l
	}
	s.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	default:
	}
	if waiting != nil {
		waiting()
	}
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// get returns a copy of a service's state.
func (s *Services) get(key string) serviceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.state[key]; st != nil {
		return *st
	}
	return serviceState{Key: key}
}

// put stores a service's state.
func (s *Services) put(st serviceState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state[st.Key] = &st
	return s.save()
}

// retireLater stops a standby instance after d, unless it became stable
// again by then.
func (s *Services) retireLater(key, id string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.timer[key]; t != nil {
		t.Stop()
	}
	s.timer[key] = time.AfterFunc(max(d, 0), func() {
		unlock, _ := s.lock(context.Background(), key, nil)
		defer unlock()
		st := s.get(key)
		if st.Standby != id || st.Stable == id {
			return
		}
		st.Standby, st.RetireAt = "", time.Time{}
		if err := s.put(st); err != nil {
			s.log.Warn("saving service state", "err", err)
		}
		s.stop(id)
	})
}

// stop stops an instance and forgets its counters.
func (s *Services) stop(id string) {
	in, ok := s.Sup.Get(id)
	if !ok {
		return
	}
	// Longer than any grace the supervisor gives it (its own, or the
	// default when the spec has none), so the stop is never cut short.
	ctx, cancel := context.WithTimeout(context.Background(), max(in.Spec.StopGrace, shipgate.DefaultStopGrace.Std())+10*time.Second)
	defer cancel()
	if err := s.Sup.Stop(ctx, id); err != nil {
		s.log.Warn("stopping an instance", "instance", id, "err", err)
		if _, still := s.Sup.Get(id); still {
			return // still supervised: keep its counters and files
		}
	}
	s.Router.Forget(id)
	// Its unpacked artifact goes too, unless another instance runs from it.
	if rel, err := filepath.Rel(filepath.Join(s.dir, "releases"), in.Spec.Dir); err != nil || strings.HasPrefix(rel, "..") || rel == "." {
		return
	}
	for _, other := range s.Sup.List() {
		if other.Spec.Dir == in.Spec.Dir {
			return
		}
	}
	if err := os.RemoveAll(in.Spec.Dir); err != nil {
		s.log.Warn("removing an unpacked artifact", "dir", in.Spec.Dir, "err", err)
	}
}

// MetricsHandler serves the router's counters in Prometheus format.
func (s *Services) MetricsHandler() http.Handler { return s.Router.MetricsHandler() }

// Close stops routing and supervising; the service processes keep running
// for the next start of the agent to adopt.
func (s *Services) Close() {
	s.mu.Lock()
	for _, t := range s.timer {
		t.Stop()
	}
	s.mu.Unlock()
	s.Router.Close()
	s.Sup.Close()
}

// StopAll stops every service process and closes the router.
func (s *Services) StopAll(ctx context.Context) error {
	s.mu.Lock()
	for _, t := range s.timer {
		t.Stop()
	}
	s.state = map[string]*serviceState{}
	err := s.save()
	s.mu.Unlock()
	s.Router.Close()
	err = errors.Join(err, s.Sup.StopAll(ctx))
	s.Sup.Close()
	return err
}

// Environments lists the environments of the services this agent
// supervises, sorted: the ones whose flags it serves them.
func (s *Services) Environments() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for key := range s.state {
		if parts := strings.SplitN(key, "/", 3); len(parts) == 3 && !slices.Contains(out, parts[1]) {
			out = append(out, parts[1])
		}
	}
	slices.Sort(out)
	return out
}

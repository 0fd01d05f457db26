package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate/internal/durable"
)

const (
	stateFile    = "state.json"
	stateVersion = 1
)

// stateDoc is state.json: enough to find every instance's process again
// after an agent restart, or to start it again on the same port.
type stateDoc struct {
	Version   int      `json:"version"`
	BootID    string   `json:"boot_id"`
	Instances []record `json:"instances"`
}

type record struct {
	ID   string `json:"id"`
	Spec Spec   `json:"spec"`
	Port int    `json:"port"`
	// PID is 0 while the instance waits to be restarted.
	PID        int       `json:"pid,omitempty"`
	StartTicks uint64    `json:"start_ticks,omitempty"`
	Restarts   int       `json:"restarts"`
	LastExit   string    `json:"last_exit,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	// Stopping is set once Stop is called, so a stop the agent did not
	// finish is finished by the next Open rather than undone.
	Stopping bool `json:"stopping,omitempty"`
}

// readState reads the state file; a missing one is an empty state.
func readState(path string) (stateDoc, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return stateDoc{Version: stateVersion}, nil
	} else if err != nil {
		return stateDoc{}, fmt.Errorf("reading supervisor state: %w", err)
	}
	corrupt := func(err error) error {
		return fmt.Errorf("supervisor state %s is unusable, so none of the processes it lists were touched; repair or remove it (they then run unsupervised): %w", path, err)
	}
	var st stateDoc
	if err := json.Unmarshal(b, &st); err != nil {
		return stateDoc{}, corrupt(err)
	}
	if st.Version != stateVersion {
		return stateDoc{}, corrupt(fmt.Errorf("version %d, this agent reads version %d", st.Version, stateVersion))
	}
	seen := map[string]bool{}
	for i, r := range st.Instances {
		switch {
		case r.ID == "" || strings.ContainsAny(r.ID, `/\.`) || seen[r.ID]:
			return stateDoc{}, corrupt(fmt.Errorf("instance %d: bad or repeated id %q", i, r.ID))
		case r.Port < 1 || r.Port > 65535:
			return stateDoc{}, corrupt(fmt.Errorf("instance %s: bad port %d", r.ID, r.Port))
		case r.PID < 0:
			return stateDoc{}, corrupt(fmt.Errorf("instance %s: bad pid %d", r.ID, r.PID))
		}
		if err := r.Spec.validate(); err != nil {
			return stateDoc{}, corrupt(fmt.Errorf("instance %s: %w", r.ID, err))
		}
		seen[r.ID] = true
	}
	return st, nil
}

// persist writes the state of every instance. persistMu is taken before
// the snapshot, so concurrent writers land in order and the last one
// written is the newest.
func (s *Supervisor) persist() error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	st := stateDoc{Version: stateVersion, BootID: s.bootID, Instances: []record{}}
	s.mu.Lock()
	for _, in := range s.instances {
		if in.forgotten {
			continue
		}
		st.Instances = append(st.Instances, record{
			ID: in.info.ID, Spec: in.info.Spec, Port: in.info.Port,
			PID: in.info.PID, StartTicks: in.startTicks,
			Restarts: in.info.Restarts, LastExit: in.info.LastExit,
			StartedAt: in.info.StartedAt, Stopping: in.stopping,
		})
	}
	s.mu.Unlock()
	slices.SortFunc(st.Instances, func(a, b record) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(s.dir, stateFile), b)
}

// recover takes over the instances of a previous supervisor: those whose
// process still runs are adopted, the others restarted, and those whose
// stop was interrupted are stopped.
func (s *Supervisor) recover(st stateDoc) {
	for _, r := range st.Instances {
		in := newInstance(s.ctx, Instance{
			ID: r.ID, Spec: r.Spec, Port: r.Port, Restarts: r.Restarts,
			LastExit: r.LastExit, StartedAt: r.StartedAt, LogPath: s.logPath(r.ID),
		})
		var p *proc
		if r.PID > 0 && st.BootID == s.bootID {
			p, _ = adopt(r.PID, r.StartTicks)
		}
		if p != nil {
			in.info.PID, in.startTicks = p.pid, p.startTicks
			in.info.State = StateStarting
			in.info.Adopted = true
			s.log.Info("supervisor: adopted", "id", r.ID, "service", r.Spec.Service, "pid", p.pid, "port", r.Port)
		} else {
			in.info.State = StateBackoff // restarted at once: in.backoff is 0
			if r.PID > 0 {
				in.info.LastExit = fmt.Sprintf("pid %d had exited when the supervisor opened", r.PID)
				appendLog(in.info.LogPath, "supervisor: "+in.info.LastExit)
			}
			s.log.Info("supervisor: not running, restarting", "id", r.ID, "service", r.Spec.Service, "pid", r.PID)
		}
		if r.Stopping {
			in.stopping = true
			in.info.State = StateStopped
			in.cancel()
		}
		s.instances[r.ID] = in
		s.wg.Add(1)
		go s.supervise(in, p)
	}
}

package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/durable"
)

// journal records, on the runner's disk, which attempts it started and how
// they ended, until the server has acknowledged the outcome. It is what
// makes "a step is started at most once per attempt" hold across runner
// restarts and repeated deliveries: an attempt found in the journal is
// never started again; its recorded outcome is reported instead, and an
// attempt started without a recorded outcome is reported as interrupted.
type journal struct{ dir string }

// entry is one attempt in the journal.
type entry struct {
	Key     shipgate.AttemptKey  `json:"key"`
	Outcome *shipgate.JobOutcome `json:"outcome,omitempty"`
}

func (j journal) path(k shipgate.AttemptKey) string {
	return filepath.Join(j.dir, fmt.Sprintf("%d-%d-%s-%d.json", k.ReleaseID, k.Run, k.Job, k.Attempt))
}

// write stores e durably: a temp file, fsync, rename.
func (j journal) write(e entry) error {
	if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return durable.WriteFile(j.path(e.Key), b)
}

// read returns the entry of k; ok is false when the attempt was never
// started here.
func (j journal) read(k shipgate.AttemptKey) (entry, bool, error) {
	b, err := os.ReadFile(j.path(k))
	if errors.Is(err, os.ErrNotExist) {
		return entry{}, false, nil
	} else if err != nil {
		return entry{}, false, err
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return entry{}, false, fmt.Errorf("journal entry %s: %w", j.path(k), err)
	}
	return e, true, nil
}

// forget drops k once the server has its outcome.
func (j journal) forget(k shipgate.AttemptKey) { os.Remove(j.path(k)) }

// all lists every entry.
func (j journal) all() ([]entry, error) {
	names, err := os.ReadDir(j.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []entry
	for _, n := range names {
		if !strings.HasSuffix(n.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(j.dir, n.Name()))
		if err != nil {
			return nil, err
		}
		var e entry
		if json.Unmarshal(b, &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

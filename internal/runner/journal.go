package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shipgate/shipgate"
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
	return writeFileDurably(j.path(e.Key), b)
}

// writeFileDurably replaces path with b so that a crash leaves either the
// old content or the new: a temp file in the same directory, fsync,
// rename, and an fsync of the directory, without which the rename itself
// may not survive.
func writeFileDurably(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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

package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/evidence"
)

// EvidenceAttacher is the part of a Coordinator that attaches the files a
// step declares as evidence (client.Agent over HTTP, the Dispatcher in the
// server's built-in runner).
type EvidenceAttacher interface {
	AttachEvidence(ctx context.Context, runner string, key shipgate.AttemptKey, typ, name string, content []byte) (shipgate.Evidence, bool, error)
}

// attachEvidence uploads the files step declares, after it ran. succeeded
// says whether the step exited 0: a file it should have produced but did
// not is then an error that fails the job; after a failed step, what is
// there is attached and what is not is only logged. A file the server
// refuses (malformed, a signature for other bytes) fails the job either way,
// with the server's message in the log.
func (r *Runner) attachEvidence(ctx context.Context, a *shipgate.Assignment, step shipgate.Step, dir string, logs *shipper, succeeded bool) error {
	att, ok := r.Coord.(EvidenceAttacher)
	if !ok {
		return fmt.Errorf("this runner's server connection cannot attach evidence")
	}
	for _, ev := range step.Evidence {
		content, err := readStepFile(dir, ev.Path)
		if err != nil {
			if !succeeded && errors.Is(err, fs.ErrNotExist) {
				logs.flushLine("system", fmt.Sprintf("evidence %s: not there after the failed step; nothing attached", ev.Path))
				continue
			}
			if errors.Is(err, fs.ErrNotExist) {
				err = errors.New("the step did not write it")
			}
			msg := fmt.Sprintf("evidence %s (%s): %v", ev.Path, ev.Type, err)
			logs.flushLine("system", msg)
			return errors.New(msg)
		}
		name := ev.Name
		if name == "" {
			name = filepath.Base(ev.Path)
		}
		e, added, err := attachWithRetry(ctx, att, r.Info.Name, a.Key, ev.Type, name, content)
		if err != nil {
			msg := fmt.Sprintf("evidence %s (%s) refused: %s", ev.Path, ev.Type, shipgate.ErrorMessage(err))
			logs.flushLine("system", msg)
			return errors.New(msg)
		}
		verb := "attached"
		if !added {
			verb = "already attached"
		}
		line := fmt.Sprintf("evidence %s %s as %d (%s, sha256:%s)", ev.Path, verb, e.ID, e.Type, e.SHA256)
		if d := evidence.Describe(e.Type, e.Summary); d != "" {
			line += ": " + d
		}
		logs.flushLine("system", line)
	}
	return nil
}

// readStepFile reads path inside dir: never through a symlink or ".."
// out of the job's directory, and at most evidence.DefaultMaxBytes.
func readStepFile(dir, path string) ([]byte, error) {
	f, err := os.OpenInRoot(dir, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, evidence.DefaultMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > evidence.DefaultMaxBytes {
		return nil, fmt.Errorf("larger than the %d bytes evidence may be", evidence.DefaultMaxBytes)
	}
	return b, nil
}

// attachWithRetry tries an upload up to three times while the server
// cannot be reached or fails internally; a refusal is final. A retry of
// an upload that did arrive is harmless: the same bytes are one item.
func attachWithRetry(ctx context.Context, att EvidenceAttacher, runner string, key shipgate.AttemptKey, typ, name string, content []byte) (shipgate.Evidence, bool, error) {
	backoff := 500 * time.Millisecond
	for i := 0; ; i++ {
		e, added, err := att.AttachEvidence(ctx, runner, key, typ, name, content)
		if err == nil || i == 2 || shipgate.ErrorCode(err) != shipgate.EINTERNAL {
			return e, added, err
		}
		select {
		case <-ctx.Done():
			return e, added, err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

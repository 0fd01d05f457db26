package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
)

// artifactChecks remembers artifacts found deployable, by the file that
// held them, so a rollback check re-reads only a file that changed.
type artifactChecks struct {
	mu   sync.Mutex
	seen map[string]checkedFile
}

// checkedFile is a file whose bytes hashed to sum when it looked like this.
type checkedFile struct {
	info    os.FileInfo // for os.SameFile; nil for stored files (replaced only by rename)
	size    int64
	modTime time.Time
	sum     string
}

func (c *artifactChecks) fresh(key string, info os.FileInfo, size int64, mod time.Time, sum string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.seen[key]
	return ok && f.sum == sum && f.size == size && f.modTime.Equal(mod) && (f.info == nil) == (info == nil) && (info == nil || os.SameFile(f.info, info))
}

func (c *artifactChecks) remember(key string, f checkedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]checkedFile{}
	}
	if len(c.seen) > 10000 {
		clear(c.seen) // a bound, not a policy: the next checks hash again
	}
	c.seen[key] = f
}

// CheckArtifact says whether the artifact art can still be deployed from
// this server, for a rollback that restores it (it is sqlstore.DB's
// ArtifactCheck):
//
//   - a stored artifact must be in the artifact store with bytes that still
//     hash to its digest;
//   - a file artifact the store never kept (a release from before the store
//     existed) must still be at its path, under the artifact roots, and hash
//     to its digest: the server imports it from there when an agent asks;
//   - a URL artifact larger than the store keeps cannot be checked here: it
//     passes with a note, and the agent verifies the digest as it downloads.
//
// A file already hashed is not read again while it stays the same file
// with the same size and modification time, so repeated checks are cheap.
func (d *Dispatcher) CheckArtifact(ctx context.Context, art shipgate.Artifact) (string, error) {
	if !art.Stored && isURL(art.Location) {
		return fmt.Sprintf("artifact %s is larger than this server stores (--max-artifact-bytes), so it cannot be checked here; the agent verifies its sha256 %s when it downloads it", art.Location, art.SHA256), nil
	}
	if d.Artifacts == nil {
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no artifact store to serve it from")
	}
	e, err := d.Artifacts.Stat(art.SHA256)
	switch code := shipgate.ErrorCode(err); {
	case err == nil:
		key := "store:" + art.SHA256
		if d.checked.fresh(key, nil, e.Size, e.ModTime, art.SHA256) {
			return "", nil
		}
		r, err := d.Artifacts.Open(art.SHA256) // hashes every byte before it returns
		if shipgate.ErrorCode(err) == shipgate.EINTERNAL {
			return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "its bytes in the artifact store cannot be read: %v", err)
		} else if err != nil {
			return "", err
		}
		r.Close()
		d.checked.remember(key, checkedFile{size: e.Size, modTime: e.ModTime, sum: art.SHA256})
		return "", nil
	case code != shipgate.ENOTFOUND:
		return "", err
	case art.Stored || isURL(art.Location):
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "sha256 %s is no longer in the artifact store %s (removed by shipgate artifact gc, or stored by a server with another --artifact-store)", art.SHA256, d.Artifacts.Dir())
	}
	// A release from before the store: its file, if it still has the bytes.
	if d.ArtifactSources == nil {
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "sha256 %s is not in the artifact store, and this server imports no artifact paths", art.SHA256)
	}
	path := strings.TrimPrefix(art.Location, "file://")
	f, err := d.ArtifactSources.Open(path)
	if err != nil {
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "sha256 %s is not in the artifact store, and its file cannot be read: %s", art.SHA256, shipgate.ErrorMessage(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", path, err)
	}
	key := "file:" + path
	if d.checked.fresh(key, info, info.Size(), info.ModTime(), art.SHA256) {
		return "", nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, contextReader{ctx, f}); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "its file %s cannot be read: %v", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != art.SHA256 {
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "its file %s now hashes to sha256 %s, not the %s the release pinned", path, got, art.SHA256)
	}
	d.checked.remember(key, checkedFile{info: info, size: info.Size(), modTime: info.ModTime(), sum: art.SHA256})
	return "", nil
}

// contextReader stops a long read when ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

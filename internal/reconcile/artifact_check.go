package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// CheckArtifact says, cheaply, whether the artifact art can still be
// deployed from this server, for a rollback that restores it (it is
// sqlstore.DB's ArtifactCheck, called inside write transactions, so it
// never reads an artifact's bytes):
//
//   - a stored artifact must be in the artifact store with the size the
//     release pinned;
//   - a file artifact the store never kept (a release from before the
//     store existed) must still be at its path, under the artifact roots,
//     with that size: the server imports it from there when an agent asks;
//   - a URL artifact larger than the store keeps cannot be checked here: it
//     passes with a note, and the agent verifies the digest as it downloads.
//
// Bytes changed in place with the size kept pass here and are caught when
// they are served: the store hashes them on every read and refuses them,
// so the rollback job fails, visibly. VerifyArtifact is the full check.
// Refusals name no server path (the deployer reads them, and so does the
// audit log); the path is logged for the operator.
func (d *Dispatcher) CheckArtifact(ctx context.Context, art shipgate.Artifact) (string, error) {
	return d.checkArtifact(ctx, art, false)
}

// VerifyArtifact is CheckArtifact that also hashes the bytes, for a check
// made outside any write transaction (a manual rollback's pre-check). A
// file already hashed is not read again while it stays the same file with
// the same size and modification time, so repeated checks are cheap.
func (d *Dispatcher) VerifyArtifact(ctx context.Context, art shipgate.Artifact) (string, error) {
	return d.checkArtifact(ctx, art, true)
}

func (d *Dispatcher) checkArtifact(ctx context.Context, art shipgate.Artifact, read bool) (string, error) {
	if !art.Stored && isURL(art.Location) {
		return fmt.Sprintf("artifact %s is larger than this server stores (--max-artifact-bytes), so it cannot be checked here; the agent verifies its sha256 %s when it downloads it", art.Location, art.SHA256), nil
	}
	if d.Artifacts == nil {
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no artifact store to serve it from")
	}
	stored := "the stored copy of sha256:" + short(art.SHA256)
	e, err := d.Artifacts.Stat(art.SHA256)
	switch code := shipgate.ErrorCode(err); {
	case err == nil:
		if art.Size > 0 && e.Size != art.Size {
			d.warnArtifact("a stored artifact's size changed: it was changed on the server", art, filepath.Join(d.Artifacts.Dir(), "sha256", art.SHA256), "size", e.Size)
			return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s is damaged: it is %d bytes, not the %d the release pinned", stored, e.Size, art.Size)
		}
		key := "store:" + art.SHA256
		if !read || d.checked.fresh(key, nil, e.Size, e.ModTime, art.SHA256) {
			return "", nil
		}
		r, err := d.Artifacts.Open(art.SHA256) // hashes every byte before it returns
		if err != nil {
			d.warnArtifact("a stored artifact cannot be served: "+err.Error(), art, filepath.Join(d.Artifacts.Dir(), "sha256", art.SHA256))
			return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s is damaged: its bytes no longer have that digest, or cannot be read", stored)
		}
		r.Close()
		d.checked.remember(key, checkedFile{size: e.Size, modTime: e.ModTime, sum: art.SHA256})
		return "", nil
	case code == shipgate.EINVALID:
		return "", err
	case code != shipgate.ENOTFOUND:
		d.warnArtifact("a stored artifact cannot be opened: "+err.Error(), art, filepath.Join(d.Artifacts.Dir(), "sha256", art.SHA256))
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s cannot be opened", stored)
	case art.Stored || isURL(art.Location):
		d.warnArtifact("a stored artifact is missing", art, d.Artifacts.Dir())
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s is missing (removed by `shipgate artifact gc`, or stored by a server with another --artifact-store)", stored)
	}
	// A release from before the store: its file, if it still has the bytes.
	if d.ArtifactSources == nil {
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "sha256:%s is not in the artifact store, and this server imports no artifact paths", short(art.SHA256))
	}
	path := strings.TrimPrefix(art.Location, "file://")
	f, err := d.ArtifactSources.Open(path)
	if err != nil {
		d.warnArtifact("an artifact file cannot be opened: "+shipgate.ErrorMessage(err), art, path)
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "sha256:%s is not in the artifact store, and the artifact file is missing or cannot be read", short(art.SHA256))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat an artifact file: %w", err)
	}
	if art.Size > 0 && info.Size() != art.Size {
		d.warnArtifact("an artifact file's size changed", art, path, "size", info.Size())
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the artifact file has changed: it is %d bytes, not the %d the release pinned", info.Size(), art.Size)
	}
	key := "file:" + path
	if !read || d.checked.fresh(key, info, info.Size(), info.ModTime(), art.SHA256) {
		return "", nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, contextReader{ctx, f}); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		d.warnArtifact("an artifact file cannot be read: "+err.Error(), art, path)
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the artifact file cannot be read")
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != art.SHA256 {
		d.warnArtifact("an artifact file's bytes changed", art, path, "now_sha256", got)
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the artifact file has changed: it now hashes to sha256:%s, not the digest the release pinned", short(got))
	}
	d.checked.remember(key, checkedFile{info: info, size: info.Size(), modTime: info.ModTime(), sum: art.SHA256})
	return "", nil
}

// short abbreviates a digest for a sentence; the full one is in the
// release.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}

// warnArtifact tells the operator, with the server path a refusal leaves
// out, why an artifact cannot be deployed.
func (d *Dispatcher) warnArtifact(msg string, art shipgate.Artifact, path string, args ...any) {
	if d.Reconciler == nil || d.Reconciler.Logger == nil {
		return
	}
	d.Reconciler.Logger.Warn("rollback refused: "+msg, append([]any{"sha256", art.SHA256, "path", path}, args...)...)
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

package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/egress"
)

// ArtifactHasher reads a release's artifact once, at creation, to record
// its sha256 (and check the one the caller gave). Runners check the same
// digest again before any step runs.
//
// Artifacts are chosen by deployers, and the pipeline is handed whatever
// file the artifact names, so the server limits what may be named: paths
// only under Roots and never under Deny (the server's own data: its key,
// its database), and URLs only to destinations the server's egress policy
// allows (Client): never, unless listed, to loopback, private or link-local
// addresses such as cloud metadata endpoints.
type ArtifactHasher struct {
	// Roots are the directories artifact paths must lie in, after
	// resolving symlinks. Empty means paths are refused.
	Roots []string
	// Deny are directories no artifact may come from, even under a root.
	Deny []string
	// MaxBytes bounds downloads; 0 means 4 GiB.
	MaxBytes int64
	// Timeout bounds one download; 0 means 10 minutes.
	Timeout time.Duration
	// Client downloads artifact URLs; nil means the default egress policy
	// (internal destinations refused, public ones allowed).
	Client *http.Client
}

// within reports whether path is dir or inside it; both are clean and
// absolute.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func resolve(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return filepath.Clean(p)
}

// checkPath refuses paths outside the roots or inside a denied directory.
func (a ArtifactHasher) checkPath(path string) error {
	if len(a.Roots) == 0 {
		return shipgate.Errorf(shipgate.EINVALID, "this server accepts no artifact paths (start it with --artifact-root DIR); use an http(s) URL")
	}
	real := resolve(path)
	for _, d := range a.Deny {
		if within(real, resolve(d)) {
			return shipgate.Errorf(shipgate.EFORBIDDEN, "artifact %s lies in the server's data directory, which artifacts may not come from", path)
		}
	}
	for _, r := range a.Roots {
		if within(real, resolve(r)) {
			return nil
		}
	}
	return shipgate.Errorf(shipgate.EFORBIDDEN, "artifact %s is outside the directories this server takes artifacts from (%s)", path, strings.Join(a.Roots, ", "))
}

// Hash returns the sha256 and size of the artifact at location: an http(s)
// URL, or an absolute path on the server's host.
func (a ArtifactHasher) Hash(ctx context.Context, location string) (string, int64, error) {
	u, err := url.Parse(location)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return a.download(ctx, location)
	}
	if err == nil && u.Scheme != "" && u.Scheme != "file" {
		return "", 0, shipgate.Errorf(shipgate.EINVALID, "artifact %q: only http, https and file locations are supported", location)
	}
	path := strings.TrimPrefix(location, "file://")
	if !filepath.IsAbs(path) {
		return "", 0, shipgate.Errorf(shipgate.EINVALID, "artifact path %q must be absolute: the server reads it on its own host", location)
	}
	if err := a.checkPath(path); err != nil {
		return "", 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be read by the server: %v", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return "", 0, shipgate.Errorf(shipgate.EINVALID, "artifact %s is not a regular file", path)
	}
	return hashReader(f, a.maxBytes(), location)
}

func (a ArtifactHasher) maxBytes() int64 {
	if a.MaxBytes > 0 {
		return a.MaxBytes
	}
	return 4 << 30
}

func (a ArtifactHasher) download(ctx context.Context, location string) (string, int64, error) {
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return "", 0, shipgate.Errorf(shipgate.EINVALID, "artifact URL %q: %v", location, err)
	}
	client := a.Client
	if client == nil {
		client = defaultArtifactClient
	}
	resp, err := client.Do(req)
	if errors.Is(err, egress.ErrRefused) {
		return "", 0, shipgate.Errorf(shipgate.EFORBIDDEN, "artifact %s: %v", location, egress.ErrRefused)
	}
	if err != nil {
		return "", 0, shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be downloaded: %v", location, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be downloaded: HTTP %d", location, resp.StatusCode)
	}
	return hashReader(resp.Body, a.maxBytes(), location)
}

func hashReader(r io.Reader, limit int64, location string) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, limit+1))
	if err != nil {
		return "", 0, shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be read: %v", location, err)
	}
	if n > limit {
		return "", 0, shipgate.Errorf(shipgate.ETOOLARGE, "artifact %s is larger than the limit of %d bytes", location, limit)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// defaultArtifactClient downloads with the default egress policy, for a
// hasher built without a client.
var defaultArtifactClient = (&egress.Policy{}).Client(0)

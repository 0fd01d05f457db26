package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// ArtifactHasher reads a release's artifact once, at creation, to record
// its sha256 (and check the one the caller gave). Runners check the same
// digest again before any step runs.
type ArtifactHasher struct {
	// MaxBytes bounds downloads; 0 means 4 GiB.
	MaxBytes int64
	// Timeout bounds one download; 0 means 10 minutes.
	Timeout time.Duration
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
	resp, err := http.DefaultClient.Do(req)
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

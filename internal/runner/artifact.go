package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/shipgate/shipgate"
)

// fetchArtifact makes the artifact available as a local file whose sha256
// is the release's, and returns its path. URLs are downloaded into cacheDir
// by digest and reused; local paths are checked in place, so a file changed
// since the release was created is caught before any step runs.
func fetchArtifact(ctx context.Context, cacheDir string, a shipgate.Artifact) (string, error) {
	if u, err := url.Parse(a.Location); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return downloadArtifact(ctx, cacheDir, a)
	}
	path := strings.TrimPrefix(a.Location, "file://")
	sum, _, err := HashFile(path)
	if err != nil {
		return "", fmt.Errorf("artifact %s: %v", path, err)
	}
	if sum != a.SHA256 {
		return "", fmt.Errorf("artifact checksum mismatch for %s: the release expects sha256 %s but the file has %s", path, a.SHA256, sum)
	}
	return path, nil
}

func downloadArtifact(ctx context.Context, cacheDir string, a shipgate.Artifact) (string, error) {
	final := filepath.Join(cacheDir, "sha256", a.SHA256)
	if sum, _, err := HashFile(final); err == nil && sum == a.SHA256 {
		return final, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Location, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("download artifact %s: %v", a.Location, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download artifact %s: HTTP %d", a.Location, resp.StatusCode)
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), "download-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		tmp.Close()
		return "", fmt.Errorf("download artifact %s: %v", a.Location, err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != a.SHA256 {
		return "", fmt.Errorf("artifact checksum mismatch for %s: the release expects sha256 %s but the download has %s", a.Location, a.SHA256, sum)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	return final, nil
}

// HashFile returns the sha256 and size of a file.
func HashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

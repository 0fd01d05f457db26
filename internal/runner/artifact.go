package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/egress"
)

// fetchArtifact makes the attempt's artifact available as a local file
// whose sha256 is the release's, and returns its path. Files are cached by
// digest under the work dir, so each distinct artifact is fetched once.
// An artifact the server stored when the release was created (every path,
// and URLs up to the server's limit) comes from the server, which serves
// the runner that holds the attempt; a URL artifact it did not store is
// downloaded from where it points. Nothing is handed to a step before its
// digest is checked.
func (r *Runner) fetchArtifact(ctx context.Context, a *shipgate.Assignment) (string, error) {
	want := a.Artifact.SHA256
	final := filepath.Join(r.WorkDir, "artifacts", "sha256", want)
	if sum, _, err := HashFile(final); err == nil && sum == want {
		return final, nil
	}
	// A server or artifact host that is briefly unreachable (restarting,
	// say) is waited for; a refusal or a wrong digest is not.
	backoff := 200 * time.Millisecond
	for {
		path, err := r.fetchOnce(ctx, a, final)
		if err == nil || !transient(err) {
			return path, err
		}
		r.Logger.Warn("fetching the artifact failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// fetchError marks a failure worth retrying.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

func transient(err error) bool {
	var fe *fetchError
	return errors.As(err, &fe)
}

func (r *Runner) fetchOnce(ctx context.Context, a *shipgate.Assignment, final string) (string, error) {
	want := a.Artifact.SHA256
	var body io.ReadCloser
	if u, err := url.Parse(a.Artifact.Location); err == nil && (u.Scheme == "http" || u.Scheme == "https") && !a.Artifact.Stored {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Artifact.Location, nil)
		if err != nil {
			return "", err
		}
		resp, err := r.httpClient().Do(req)
		if errors.Is(err, egress.ErrRefused) {
			return "", fmt.Errorf("download artifact %s: %w", a.Artifact.Location, egress.ErrRefused) // retrying cannot help
		}
		if err != nil {
			return "", &fetchError{fmt.Errorf("download artifact %s: %v", a.Artifact.Location, err)}
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			err := fmt.Errorf("download artifact %s: HTTP %d", a.Artifact.Location, resp.StatusCode)
			if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
				return "", &fetchError{err}
			}
			return "", err
		}
		body = resp.Body
	} else {
		body, err = r.Coord.Artifact(ctx, r.Info.Name, a.Key)
		if err != nil {
			err = fmt.Errorf("fetch artifact %s from the server: %w", a.Artifact.Location, err)
			if code := shipgate.ErrorCode(err); code == shipgate.EINTERNAL {
				return "", &fetchError{err} // unreachable or failing server, not a refusal
			}
			return "", err
		}
	}
	defer body.Close()
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), "download-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), body); err != nil {
		tmp.Close()
		err = fmt.Errorf("fetch artifact %s: %w", a.Artifact.Location, err)
		if shipgate.ErrorCode(err) != shipgate.EINTERNAL {
			return "", err // the server refused mid-way: its stored bytes changed
		}
		return "", &fetchError{err}
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != want {
		return "", fmt.Errorf("artifact checksum mismatch for %s: the release expects sha256 %s but got %s", a.Artifact.Location, want, sum)
	}
	if err := os.Chmod(tmp.Name(), 0o500); err != nil {
		return "", err
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

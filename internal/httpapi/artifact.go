package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/egress"
)

// DefaultArtifactTimeout bounds the download of a URL artifact at creation.
// gc keeps anything stored more recently than that.
const DefaultArtifactTimeout = 10 * time.Minute

// ArtifactHasher pins a release's artifact at creation: it reads the
// artifact once, copying exactly the bytes it hashes into the artifact
// store, from which agents are then served. The location is never read
// again, so what it names later does not matter.
//
// Artifacts are chosen by deployers, so the server limits what may be
// named: paths only under Roots and never one of Deny (the server's own
// files: its data, keys, configuration, database) nor the kernel's (/proc,
// /sys, /dev), opened so that no symlink leads elsewhere;
// URLs only to destinations the server's egress policy allows (Client):
// never, unless listed, to loopback, private or link-local addresses such
// as cloud metadata endpoints.
type ArtifactHasher struct {
	// Roots are the directories artifact paths must lie in. Empty means
	// paths are refused.
	Roots []string
	// Deny are the server's own files and directories, which no artifact
	// may come from even under a root (see artifactstore.Sources).
	Deny []string
	// Store keeps the pinned bytes; creation fails without one.
	Store *artifactstore.Store
	// MaxBytes bounds what one URL download reads at all; 0 means 4 GiB,
	// or the store's limit if that is larger. A URL artifact larger than
	// the store keeps is hashed but not stored: agents fetch the URL
	// themselves and check the digest.
	MaxBytes int64
	// Timeout bounds one download; 0 means DefaultArtifactTimeout.
	Timeout time.Duration
	// Client downloads artifact URLs; nil means the default egress policy
	// (internal destinations refused, public ones allowed).
	Client *http.Client
}

// Pin reads the artifact at location (an http(s) URL, or an absolute path
// on the server's host) and returns it pinned: digest, size, and whether
// its bytes are in the store. With want set (the caller's --sha256), other
// bytes are refused and not stored.
func (a ArtifactHasher) Pin(ctx context.Context, location, want string) (shipgate.Artifact, error) {
	if a.Store == nil {
		return shipgate.Artifact{}, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no artifact store, so it cannot pin artifacts")
	}
	u, err := url.Parse(location)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return a.download(ctx, location, want)
	}
	if err == nil && u.Scheme != "" && u.Scheme != "file" {
		return shipgate.Artifact{}, shipgate.Errorf(shipgate.EINVALID, "artifact %q: only http, https and file locations are supported", location)
	}
	path := strings.TrimPrefix(location, "file://")
	src := artifactstore.Sources{Roots: a.Roots, Deny: a.Deny}
	f, err := src.Open(path)
	if err != nil {
		return shipgate.Artifact{}, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > a.storeLimit() {
		return shipgate.Artifact{}, a.tooLarge(path, st.Size())
	}
	res, err := a.Store.Put(f, want)
	if err != nil {
		return shipgate.Artifact{}, putFailure(location, want, res, err)
	}
	if !res.Stored { // it grew while being read
		return shipgate.Artifact{}, a.tooLarge(path, res.Size)
	}
	return shipgate.Artifact{Location: location, SHA256: res.SHA256, Size: res.Size, Stored: true}, nil
}

func (a ArtifactHasher) storeLimit() int64 {
	if a.Store.MaxBytes > 0 {
		return a.Store.MaxBytes
	}
	return artifactstore.DefaultMaxBytes
}

func (a ArtifactHasher) tooLarge(path string, size int64) error {
	return shipgate.Errorf(shipgate.ETOOLARGE, "artifact %s is %d bytes, more than this server stores (--max-artifact-bytes %d); a server-side path must be stored, so raise the limit or give an http(s) URL", path, size, a.storeLimit())
}

func (a ArtifactHasher) maxBytes() int64 {
	if a.MaxBytes > 0 {
		return a.MaxBytes
	}
	return max(4<<30, a.storeLimit())
}

// putFailure words an error of Store.Put for the caller: the source could
// not be read or has other bytes than --sha256 says (invalid), or the store
// failed (internal).
func putFailure(location, want string, res artifactstore.PutResult, err error) error {
	var re *artifactstore.ReadError
	switch {
	case errors.As(err, &re):
		return shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be read: %v", location, re.Err)
	case want != "" && res.SHA256 != "" && res.SHA256 != want:
		return shipgate.Errorf(shipgate.EINVALID, "artifact checksum mismatch: --sha256 says %s but %s has sha256 %s", want, location, res.SHA256)
	}
	return err
}

func (a ArtifactHasher) download(ctx context.Context, location, want string) (shipgate.Artifact, error) {
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = DefaultArtifactTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return shipgate.Artifact{}, shipgate.Errorf(shipgate.EINVALID, "artifact URL %q: %v", location, err)
	}
	client := a.Client
	if client == nil {
		client = defaultArtifactClient
	}
	resp, err := client.Do(req)
	if errors.Is(err, egress.ErrRefused) {
		return shipgate.Artifact{}, shipgate.Errorf(shipgate.EFORBIDDEN, "artifact %s: %v", location, egress.ErrRefused)
	}
	if err != nil {
		return shipgate.Artifact{}, shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be downloaded: %v", location, downloadError(location, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return shipgate.Artifact{}, shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be downloaded: HTTP %d", location, resp.StatusCode)
	}
	limit := a.maxBytes()
	res, err := a.Store.Put(io.LimitReader(resp.Body, limit+1), want)
	if res.Size > limit {
		return shipgate.Artifact{}, shipgate.Errorf(shipgate.ETOOLARGE, "artifact %s is larger than the limit of %d bytes", location, limit)
	}
	if err != nil {
		return shipgate.Artifact{}, putFailure(location, want, res, err)
	}
	return shipgate.Artifact{Location: location, SHA256: res.SHA256, Size: res.Size, Stored: res.Stored}, nil
}

// downloadError words a failed request for the deployer who named the
// URL: without the *url.Error's repeat of that URL (a redirect's target is
// kept), and with a DNS failure said as egress.LookupError says it — the
// host does not resolve, not which resolver said so — whichever client
// made the request.
func downloadError(location string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL == location {
		err = ue.Err
	}
	var le *egress.LookupError
	var de *net.DNSError
	if !errors.As(err, &le) && errors.As(err, &de) {
		return &egress.LookupError{Host: de.Name, Err: de}
	}
	return err
}

// defaultArtifactClient downloads with the default egress policy, for a
// hasher built without a client.
var defaultArtifactClient = (&egress.Policy{}).Client(0)

package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Artifact opens the artifact of an attempt the runner holds, from the
// artifact store, by the digest the release pinned, verified as it is read
// (artifactstore.Store.Open): stored bytes that no longer match are never
// delivered. The file the release named is not opened for it, so a file
// replaced after creation (by other bytes, or by a symlink to the server's
// key) changes nothing. A URL artifact the server did not store is the
// runner's to download.
func (d *Dispatcher) Artifact(ctx context.Context, runner string, key shipgate.AttemptKey) (io.ReadCloser, error) {
	var art shipgate.Artifact
	err := d.DB.View(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		if j.State != shipgate.JobRunning {
			return shipgate.Errorf(shipgate.ECONFLICT, "job %s is %s", j.Name, j.State)
		}
		r, err := tx.FindRelease(ctx, key.ReleaseID)
		if err != nil {
			return err
		}
		art = r.Artifact
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !art.Stored && isURL(art.Location) {
		return nil, shipgate.Errorf(shipgate.EINVALID, "artifact %s is a URL; download it from there", art.Location)
	}
	if err := d.EnsureArtifact(ctx, key.ReleaseID, art); err != nil {
		return nil, err
	}
	rc, err := d.Artifacts.Open(art.SHA256)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return rc, nil
}

func isURL(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// EnsureArtifact makes sure the store holds the artifact release id pins,
// importing it from its path when it does not: a release created before
// the store existed, or one whose bytes gc removed. An import opens the
// path under ArtifactSources (never outside its roots, never the data
// directory) and keeps the bytes only if they have the pinned digest. A
// URL artifact the server did not store needs nothing.
func (d *Dispatcher) EnsureArtifact(ctx context.Context, id int64, art shipgate.Artifact) error {
	if !art.Stored && isURL(art.Location) {
		return nil
	}
	if d.Artifacts == nil {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no artifact store to serve release %d's artifact from", id)
	}
	_, err := d.Artifacts.Stat(art.SHA256)
	if shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		return err
	}
	missing := fmt.Sprintf("artifact sha256 %s of release %d is not in this server's artifact store %s (removed by shipgate artifact gc, or created by a server with another --artifact-store)", art.SHA256, id, d.Artifacts.Dir())
	if isURL(art.Location) {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s", missing)
	}
	if d.ArtifactSources == nil {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s, and this server imports no artifact paths", missing)
	}
	f, err := d.ArtifactSources.Open(strings.TrimPrefix(art.Location, "file://"))
	if err != nil {
		return shipgate.Errorf(shipgate.ErrorCode(err), "%s, and cannot be imported from its path: %s", missing, shipgate.ErrorMessage(err))
	}
	defer f.Close()
	res, err := d.Artifacts.Put(f, art.SHA256)
	var re *artifactstore.ReadError
	switch {
	case errors.As(err, &re):
		return shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be read: %v", art.Location, re.Err)
	case err != nil:
		return fmt.Errorf("import the artifact of release %d from %s: %w", id, art.Location, err)
	case !res.Stored:
		return shipgate.Errorf(shipgate.ETOOLARGE, "artifact %s of release %d is %d bytes, more than this server stores (--max-artifact-bytes)", art.Location, id, res.Size)
	}
	if d.Reconciler != nil && d.Reconciler.Logger != nil {
		d.Reconciler.Logger.Info("imported a release's artifact into the store", "release", id, "path", art.Location, "sha256", art.SHA256)
	}
	return nil
}

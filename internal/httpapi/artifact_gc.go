package httpapi

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) artifactRoutes() []Route {
	return []Route{
		route("GET", "/api/v1/artifacts", shipgate.PermRead, "List stored artifacts and whether gc keeps them", h.listArtifacts),
		route("POST", "/api/v1/artifacts/gc", shipgate.PermAdmin, "Remove stored artifacts no release can still need", h.collectArtifacts),
	}
}

func (h *Handler) artifactStore() (*artifactstore.Store, error) {
	if h.Artifacts.Store == nil {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no artifact store")
	}
	return h.Artifacts.Store, nil
}

// planGC lists the store and decides, from the releases in tx, what gc
// keeps; newest first.
func planGC(tx *sqlstore.Tx, r *http.Request, store *artifactstore.Store, now time.Time, grace time.Duration) ([]shipgate.StoredArtifact, error) {
	files, err := store.List()
	if err != nil {
		return nil, err
	}
	refs, err := tx.ArtifactRefs(r.Context())
	if err != nil {
		return nil, err
	}
	stored := make([]shipgate.StoredArtifact, len(files))
	for i, f := range files {
		stored[i] = shipgate.StoredArtifact{SHA256: f.SHA256, Size: f.Size, StoredAt: f.ModTime.UTC()}
	}
	sort.SliceStable(stored, func(i, j int) bool { return stored[i].StoredAt.After(stored[j].StoredAt) })
	return shipgate.PlanArtifactGC(stored, refs, now, grace), nil
}

func (h *Handler) listArtifacts(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	store, err := h.artifactStore()
	if err != nil {
		return err
	}
	var out []shipgate.StoredArtifact
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		out, err = planGC(tx, r, store, time.Now(), shipgate.DefaultArtifactGrace)
		return err
	})
	if err != nil {
		return err
	}
	if out == nil {
		out = []shipgate.StoredArtifact{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// collectArtifacts removes the stored artifacts PlanArtifactGC lets go.
// The decision and its audit event are one transaction, which holds the
// write lock, so no release is created or finishes meanwhile; a creation
// in flight stored its file before its transaction and is kept by the
// grace period. Files are removed after the commit: a failure leaves an
// artifact the event lists as removed, which the next gc removes, never a
// removal nobody recorded.
func (h *Handler) collectArtifacts(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.ArtifactGCRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	grace := shipgate.DefaultArtifactGrace
	if req.Grace != "" {
		sd, err := shipgate.ParseDuration(req.Grace)
		d := sd.Std()
		if err != nil || d < 0 {
			return shipgate.Errorf(shipgate.EINVALID, "grace %q is not a duration of zero or more (e.g. 1h, 30m)", req.Grace)
		}
		grace = d
	}
	store, err := h.artifactStore()
	if err != nil {
		return err
	}
	now := time.Now() // file times are the wall clock's
	res := client.ArtifactGCResult{DryRun: req.DryRun, Grace: grace.String(), Removed: []shipgate.StoredArtifact{}}
	decide := func(tx *sqlstore.Tx) error {
		plan, err := planGC(tx, r, store, now, grace)
		if err != nil {
			return err
		}
		res.Removed, res.FreedBytes, res.Kept, res.KeptBytes = res.Removed[:0], 0, 0, 0
		for _, a := range plan {
			if a.Keep {
				res.Kept++
				res.KeptBytes += a.Size
				continue
			}
			res.Removed = append(res.Removed, a)
			res.FreedBytes += a.Size
		}
		if req.DryRun || len(res.Removed) == 0 {
			return nil
		}
		removed := make([]map[string]any, len(res.Removed))
		for i, a := range res.Removed {
			ids := make([]int64, len(a.Releases))
			for j, ref := range a.Releases {
				ids[j] = ref.ReleaseID
			}
			removed[i] = map[string]any{"sha256": a.SHA256, "size": a.Size, "releases": ids}
		}
		return tx.Audit(r.Context(), shipgate.NewAuditEvent(u.Name, shipgate.ActionArtifactsCollected, "artifacts", map[string]any{
			"removed": removed, "bytes": res.FreedBytes, "grace": grace.String(),
		}))
	}
	if req.DryRun {
		err = h.DB.View(r.Context(), decide)
	} else {
		err = h.DB.Update(r.Context(), decide)
	}
	if err != nil {
		return err
	}
	if !req.DryRun {
		var failed []string
		for _, a := range res.Removed {
			if err := store.Remove(a.SHA256); err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", a.SHA256, err))
			}
		}
		if len(failed) > 0 {
			return shipgate.Errorf(shipgate.EINTERNAL, "gc could not remove %d of %d artifacts (run it again): %s", len(failed), len(res.Removed), strings.Join(failed, "; "))
		}
		if res.StaleTempFiles, err = store.RemoveStaleTemp(now.Add(-grace)); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

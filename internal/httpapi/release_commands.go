package httpapi

import (
	"context"
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// The commands on one release: approve, reject, cancel, rerun. Each runs
// its reconcile command (observe → decide → apply) in one transaction and
// answers with the release as it is now.

func (h *Handler) approve(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	return h.decide(w, r, u, shipgate.DecisionApprove)
}

func (h *Handler) reject(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	return h.decide(w, r, u, shipgate.DecisionReject)
}

func (h *Handler) decide(w http.ResponseWriter, r *http.Request, u *shipgate.User, decision string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.DecisionRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Digest == "" {
		return shipgate.Errorf(shipgate.EINVALID, "digest is required: state the digest of the release you %s", decision)
	}
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		if _, _, err := reconcile.Decide(r.Context(), tx, u, id, decision, req.Digest, req.Comment); err != nil {
			return err
		}
		_, _, err = reconcile.Release(r.Context(), tx, id)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusOK, id)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.CancelRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		_, err := reconcile.CancelRelease(r.Context(), tx, u.Name, id, req.Reason)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusOK, id)
}

func (h *Handler) rerun(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req struct{}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := h.rerunnableArtifact(r.Context(), id); err != nil {
		return err
	}
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RerunRelease(r.Context(), tx, u.Name, id); err != nil {
			return err
		}
		_, _, err := reconcile.Release(r.Context(), tx, id)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusOK, id)
}

// rerunnableArtifact refuses to rerun a failed release whose artifact the
// server can no longer serve (artifact gc removed it, and its path no
// longer holds those bytes), rather than start a run that fails at once.
func (h *Handler) rerunnableArtifact(ctx context.Context, id int64) error {
	if h.Dispatcher == nil {
		return nil
	}
	var rel *shipgate.Release
	err := h.DB.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		rel, err = tx.FindRelease(ctx, id)
		return err
	})
	if err != nil || rel.State != shipgate.StateFailed {
		return err // RerunRelease says why a release in another state cannot be rerun
	}
	if err := h.Dispatcher.EnsureArtifact(ctx, id, rel.Artifact); err != nil {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d cannot be rerun: %s; create a new release", id, shipgate.ErrorMessage(err))
	}
	return nil
}

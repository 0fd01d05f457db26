package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) rollbackRoutes() []Route {
	return []Route{
		route("POST", "/api/v1/rollbacks", shipgate.PermRollback, "Roll an environment back by hand", h.manualRollback),
		route("POST", "/api/v1/releases/{id}/rollback/hold", shipgate.PermRollback, "Hold a pending rollback", h.holdRollback),
		route("POST", "/api/v1/releases/{id}/rollback/now", shipgate.PermRollback, "Fire a pending or held rollback now", h.rollbackNow),
		route("GET", "/api/v1/notifications", shipgate.PermRead, "List notifications and their delivery", h.listNotifications),
	}
}

func (h *Handler) listNotifications(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	state := r.URL.Query().Get("state")
	switch state {
	case "", sqlstore.NotifyPending, sqlstore.NotifyDelivered, sqlstore.NotifyFailed:
	default:
		return shipgate.Errorf(shipgate.EINVALID, "state=%q: use pending, delivered or failed", state)
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	var out []sqlstore.Notification
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListNotifications(r.Context(), state, int(limit))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// readRollbackAction reads the optional body of hold and now: a reason.
// Callers from before the body existed sent none, with any transfer
// encoding; a body that is there must be an object like everywhere else.
func readRollbackAction(r *http.Request) (client.RollbackActionRequest, error) {
	var req client.RollbackActionRequest
	if err := readOptionalJSON(r, &req); err != nil {
		return req, err
	}
	return req, shipgate.ValidateLine("reason", req.Reason, shipgate.MaxCommentLen)
}

func (h *Handler) holdRollback(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	req, err := readRollbackAction(r)
	if err != nil {
		return err
	}
	if err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		_, err := tx.HoldRollback(r.Context(), u.Name, id, req.Reason)
		return err
	}); err != nil {
		return err
	}
	return h.writeRelease(w, r, http.StatusOK, id)
}

func (h *Handler) rollbackNow(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	req, err := readRollbackAction(r)
	if err != nil {
		return err
	}
	if err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		if _, err := tx.RollbackNow(r.Context(), u.Name, id, req.Reason); err != nil {
			return err
		}
		_, _, err := reconcile.Release(r.Context(), tx, id)
		return err
	}); err != nil {
		return err
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusOK, id)
}

// manualRollback creates a rollback release for the environment's current
// release: the same kind of linked release the policy creates, triggered by
// a person. It needs approval only when the version it restores never
// succeeded in the environment.
func (h *Handler) manualRollback(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.RollbackRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Service == "" || req.Environment == "" {
		return shipgate.Errorf(shipgate.EINVALID, "service and environment are required")
	}
	if req.ToVersion != "" {
		if err := shipgate.ValidateVersion(req.ToVersion); err != nil {
			return err
		}
	}
	if err := shipgate.ValidateLine("reason", req.Reason, shipgate.MaxCommentLen); err != nil {
		return err
	}
	// Check the artifact before the write transaction, which would hold
	// every other writer while a large artifact is hashed; the check in
	// the transaction then finds it checked (unless it changed since).
	h.precheckRollbackArtifact(r.Context(), req)
	var id int64
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		rr, err := createManualRollback(r.Context(), tx, u.Name, req)
		if err != nil {
			return err
		}
		id = rr.ID
		_, _, err = reconcile.Release(r.Context(), tx, rr.ID)
		return err
	})
	var ua *sqlstore.UnavailableArtifactError
	if errors.As(err, &ua) {
		// Nothing was created; the refusal is on record all the same.
		if aerr := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
			return tx.Audit(r.Context(), shipgate.NewAuditEvent(u.Name, shipgate.ActionRollbackRefused, "release/"+itoa(ua.Of), withReason(map[string]any{
				"service": req.Service, "environment": req.Environment, "target_release": ua.Target, "target_version": ua.Version,
				"refused": ua.Error(),
			}, req.Reason)))
		}); aerr != nil {
			return aerr
		}
	}
	if err != nil {
		return err
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusCreated, id)
}

// precheckRollbackArtifact checks, outside any write transaction, the
// artifact a manual rollback would restore (see manualRollback). What it
// finds is only remembered; the transaction decides.
func (h *Handler) precheckRollbackArtifact(ctx context.Context, req client.RollbackRequest) {
	if h.DB.ArtifactCheck == nil {
		return
	}
	var target *shipgate.Release
	_ = h.DB.View(ctx, func(tx *sqlstore.Tx) error {
		cur, err := tx.CurrentRelease(ctx, req.Service, req.Environment)
		if err != nil {
			return err
		}
		mode, version := rollbackMode(req)
		target, _, err = reconcile.RollbackTarget(ctx, tx, cur, mode, version)
		return err
	})
	if target != nil {
		_, _ = h.DB.ArtifactCheck(ctx, target.Artifact)
	}
}

func rollbackMode(req client.RollbackRequest) (mode, version string) {
	if req.ToVersion != "" {
		return shipgate.RollbackVersion, req.ToVersion
	}
	return shipgate.RollbackLastSuccessful, ""
}

func withReason(details map[string]any, reason string) map[string]any {
	if reason != "" {
		details["reason"] = reason
	}
	return details
}

func createManualRollback(ctx context.Context, tx *sqlstore.Tx, actor string, req client.RollbackRequest) (*shipgate.Release, error) {
	if _, err := tx.FindService(ctx, req.Service); err != nil {
		return nil, err
	}
	cur, err := tx.CurrentRelease(ctx, req.Service, req.Environment)
	if err != nil {
		return nil, err
	}
	if busy, err := tx.ListReleases(ctx, shipgate.ReleaseFilter{Service: req.Service, Environment: req.Environment,
		States: []shipgate.ReleaseState{shipgate.StateQueued, shipgate.StateRunning}, Limit: 1}); err != nil {
		return nil, err
	} else if len(busy) > 0 {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is %s in %s; cancel it or wait for it before rolling back", busy[0].ID, busy[0].State, req.Environment)
	}
	if rb, err := tx.FindRollback(ctx, cur.ID); err == nil {
		if rb.Open() {
			return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d already has a rollback %s; use `shipgate rollback now %d`", cur.ID, rb.State, cur.ID)
		}
		if rb.State == shipgate.RollbackFired {
			return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d is being rolled back by release %d", cur.ID, rb.RollbackRelease)
		}
	}
	mode, version := rollbackMode(req)
	target, none, err := reconcile.RollbackTarget(ctx, tx, cur, mode, version)
	if err != nil {
		return nil, err
	}
	if target == nil {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "%s", none)
	}
	rr, err := tx.CreateRollbackRelease(ctx, sqlstore.NewRollback{Of: cur, Target: target, TriggeredBy: shipgate.TriggeredByUser, Actor: actor, Reason: req.Reason})
	if err != nil {
		return nil, err
	}
	rb := &shipgate.Rollback{ReleaseID: cur.ID, State: shipgate.RollbackFired, TriggeredBy: shipgate.TriggeredByUser,
		TargetID: target.ID, TargetVersion: target.Version, RollbackRelease: rr.ID,
		Reason: "rolled back by " + actor}
	if req.Reason != "" {
		rb.Reason += ": " + req.Reason
	}
	if err := tx.PutRollback(ctx, rb); err != nil {
		return nil, err
	}
	return rr, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionRollbackFired, "release/"+itoa(cur.ID), withReason(map[string]any{
		"target_release": target.ID, "target_version": target.Version, "triggered_by": shipgate.TriggeredByUser, "rollback_release": rr.ID,
	}, req.Reason)))
}

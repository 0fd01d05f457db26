package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/decide"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) rollbackRoutes() []Route {
	return []Route{
		route("POST", "/api/v1/rollbacks", shipgate.PermRollback, "Roll an environment back by hand", h.manualRollback),
		route("POST", "/api/v1/releases/{id}/rollback/hold", shipgate.PermRollback, "Hold a pending rollback", h.holdRollback),
		route("POST", "/api/v1/releases/{id}/rollback/now", shipgate.PermRollback, "Fire a pending or held rollback now", h.rollbackNow),
		route("POST", "/api/v1/releases/{id}/rollback/call-off", shipgate.PermRollback, "Call off a pending or held rollback", h.callOffRollback),
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
		_, err := reconcile.HoldRollback(r.Context(), tx, u.Name, id, req.Reason)
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
		_, err := reconcile.RollbackNow(r.Context(), tx, u.Name, id, req.Reason)
		return err
	}); err != nil {
		return err
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusOK, id)
}

// callOffRollback ends a pending or held rollback without rolling back, in
// the caller's name; unlike hold and now its body is required, since the
// reason is: the rollback the policy asked for will not happen.
func (h *Handler) callOffRollback(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.RollbackCallOffRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := decide.Validate(decide.CallOff{Actor: u.Name, Reason: req.Reason}); err != nil {
		return err
	}
	if err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		_, err := reconcile.CallOffRollback(r.Context(), tx, u.Name, id, req.Reason)
		return err
	}); err != nil {
		return err
	}
	// The environment may be free now: a deploy waiting behind the
	// pending rollback can start.
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
	// Hash the artifact before the write transaction, which would hold
	// every other writer while a large artifact is read; the check in the
	// transaction only looks at its size.
	if err := h.precheckRollbackArtifact(r.Context(), req); err != nil {
		return h.refuseRollback(r.Context(), u, req, err)
	}
	var id int64
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		rr, err := createManualRollback(r.Context(), tx, u.Name, req)
		if err != nil {
			return err
		}
		id = rr.ID
		return nil
	})
	if err != nil {
		return h.refuseRollback(r.Context(), u, req, err)
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusCreated, id)
}

// refuseRollback puts a manual rollback refused before anything was
// created on record as rollback.refused on the release it would have
// rolled back — nothing to restore that succeeded here, or an artifact
// that cannot be deployed — and returns err; other errors pass through.
func (h *Handler) refuseRollback(ctx context.Context, u *shipgate.User, req client.RollbackRequest, err error) error {
	var of, target int64
	var version string
	var ua *sqlstore.UnavailableArtifactError
	var rr *sqlstore.RefusedRollbackError
	switch {
	case errors.As(err, &ua):
		of, target, version = ua.Of, ua.Target, ua.Version
	case errors.As(err, &rr):
		of, target, version = rr.Of, rr.Target, rr.Version
	default:
		return err
	}
	details := map[string]any{"service": req.Service, "environment": req.Environment, "target_version": version, "refused": shipgate.ErrorMessage(err)}
	if target != 0 {
		details["target_release"] = target
	}
	if aerr := h.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		return tx.Audit(ctx, shipgate.NewAuditEvent(u.Name, shipgate.ActionRollbackRefused, shipgate.ReleaseSubject(of), withReason(details, req.Reason)))
	}); aerr != nil {
		return aerr
	}
	return err
}

// precheckRollbackArtifact verifies, outside any write transaction, the
// bytes of the artifact a manual rollback would restore (see
// manualRollback): an *sqlstore.UnavailableArtifactError when they cannot
// be deployed. Anything else it cannot decide is left to the transaction.
func (h *Handler) precheckRollbackArtifact(ctx context.Context, req client.RollbackRequest) error {
	if h.DB.ArtifactCheck == nil || h.Dispatcher == nil {
		return nil
	}
	var cur, target *shipgate.Release
	_ = h.DB.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		if cur, err = tx.CurrentRelease(ctx, req.Service, req.Environment); err != nil {
			return err
		}
		mode, version := rollbackMode(req)
		target, _, err = reconcile.RollbackTarget(ctx, tx, cur, mode, version)
		return err
	})
	if target == nil {
		return nil
	}
	_, err := h.Dispatcher.VerifyArtifact(ctx, target.Artifact)
	if err == nil || shipgate.ErrorCode(err) == shipgate.EINTERNAL || ctx.Err() != nil {
		return nil // the check itself failed: not a verdict on the artifact
	}
	return &sqlstore.UnavailableArtifactError{Of: cur.ID, Target: target.ID, Version: target.Version, Reason: shipgate.ErrorMessage(err)}
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
	mode, version := rollbackMode(req)
	return reconcile.ManualRollback(ctx, tx, actor, req.Reason, cur, mode, version)
}

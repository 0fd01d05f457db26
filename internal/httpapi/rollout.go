package httpapi

import (
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) rolloutRoutes() []Route {
	return []Route{
		route("POST", "/api/v1/releases/{id}/promote", shipgate.PermPromote, "Continue a rollout paused for a person", h.promote),
	}
}

// agentRollout takes a rollout report of an attempt the agent holds and
// answers with the promotions people granted it.
func (h *Handler) agentRollout(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	var req client.RolloutRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	reply, err := h.Dispatcher.Rollout(r.Context(), a.Name, req.Key, req.Status)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

func (h *Handler) promote(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.PromoteRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		_, err := reconcile.PromoteRollout(r.Context(), tx, u.Name, id, req.Comment)
		return err
	}); err != nil {
		return err
	}
	return h.writeRelease(w, r, http.StatusOK, id)
}

// rolloutViews converts stored rollouts to the API's shape.
func rolloutViews(ros []sqlstore.Rollout) []client.Rollout {
	var out []client.Rollout
	for _, ro := range ros {
		out = append(out, client.Rollout{Job: ro.Job, Attempt: ro.Attempt, PromotedThrough: ro.PromotedThrough, Status: ro.Status, UpdatedAt: ro.UpdatedAt})
	}
	return out
}

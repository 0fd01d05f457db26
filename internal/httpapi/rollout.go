package httpapi

import (
	"fmt"
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) rolloutRoutes() []Route {
	return []Route{
		route("POST", "/api/v1/releases/{id}/promote", shipgate.PermPromote, "Continue a rollout paused for a person", h.promote),
		route("GET", "/api/v1/releases/{id}/rollouts/history", shipgate.PermRead, "The history of a rollout: weights, traffic, analysis progress and decisions over time", h.rolloutHistory),
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

// rolloutHistory answers the history of one rollout attempt of a release:
// by default the first rollout job of the current run, its latest attempt.
func (h *Handler) rolloutHistory(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	run, err := queryInt(r, "run")
	if err != nil {
		return err
	}
	attempt, err := queryInt(r, "attempt")
	if err != nil {
		return err
	}
	points, err := queryInt(r, "points")
	if err != nil {
		return err
	}
	job := r.URL.Query().Get("job")
	var out *shipgate.RolloutHistory
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		rel, err := tx.FindRelease(r.Context(), id)
		if err != nil {
			return err
		}
		if run == 0 {
			run = int64(rel.Run)
		}
		if run > int64(rel.Run) || run < 1 {
			return shipgate.Errorf(shipgate.ENOTFOUND, "release %d has no run %d", id, run)
		}
		if job != "" {
			if _, ok := rel.Pipeline.Job(job); !ok {
				return shipgate.Errorf(shipgate.ENOTFOUND, "release %d has no job %q", id, job)
			}
		}
		ros, err := tx.ListRollouts(r.Context(), id, int(run))
		if err != nil {
			return err
		}
		var pick *sqlstore.Rollout
		for i := range ros {
			ro := &ros[i]
			if job == "" && pick != nil && ro.Job != pick.Job {
				break // the first rollout job's attempts only
			}
			if (job == "" || ro.Job == job) && (attempt == 0 || int64(ro.Attempt) == attempt) {
				pick = ro // attempts come in order: the last match is the latest
			}
		}
		if pick == nil {
			what := fmt.Sprintf("run %d of release %d has no rollout", run, id)
			if job != "" {
				what = fmt.Sprintf("job %s of run %d of release %d has reported no rollout", job, run, id)
			}
			if attempt != 0 {
				what += fmt.Sprintf(" in attempt %d", attempt)
			}
			return shipgate.Errorf(shipgate.ENOTFOUND, "%s", what)
		}
		out, err = tx.RolloutHistory(r.Context(), pick.JobID, pick.Attempt, int(min(points, shipgate.MaxRolloutPoints)))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

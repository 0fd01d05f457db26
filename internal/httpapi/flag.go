package httpapi

import (
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// The flags of services (issue 15): the live flags and their changes, a
// person's governed change (applied at once, 200, or waiting for
// approval, 202), the kill switch, and the decisions on pending changes.

func (h *Handler) flagRoutes() []Route {
	return []Route{
		route("GET", "/api/v1/flags", shipgate.PermRead, "List the live flags", h.listFlags),
		route("GET", "/api/v1/flags/{service}/{environment}/{key}", shipgate.PermRead, "Show a flag with its recent and pending changes", h.getFlag),
		route("POST", "/api/v1/flags/{service}/{environment}/{key}", shipgate.PermFlagChange, "Change a flag", h.changeFlag),
		route("POST", "/api/v1/flags/{service}/{environment}/{key}/kill", shipgate.PermFlagKill, "Kill a flag", h.killFlag),
		route("POST", "/api/v1/releases/{id}/flags/kill", shipgate.PermFlagKill, "Kill the flags a release introduced", h.killReleaseFlags),
		route("GET", "/api/v1/flag-changes", shipgate.PermRead, "List flag changes", h.listFlagChanges),
		route("POST", "/api/v1/flag-changes/{id}/approve", shipgate.PermApprove, "Approve a flag change", h.approveFlagChange),
		route("POST", "/api/v1/flag-changes/{id}/reject", shipgate.PermApprove, "Reject a flag change", h.rejectFlagChange),
	}
}

// flagRecentChanges is how many changes a flag's view shows.
const flagRecentChanges = 50

func (h *Handler) listFlags(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	q := r.URL.Query()
	var out []shipgate.FlagState
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListFlags(r.Context(), q.Get("service"), q.Get("environment"))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getFlag(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	service, env, key := r.PathValue("service"), r.PathValue("environment"), r.PathValue("key")
	var out client.FlagView
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		s, err := tx.FindFlag(r.Context(), service, env, key)
		if err != nil {
			return err
		}
		out.Flag = *s
		if out.Changes, err = tx.ListFlagChanges(r.Context(), sqlstore.FlagChangeFilter{Service: service, Environment: env, Key: key, Limit: flagRecentChanges}); err != nil {
			return err
		}
		if out.Pending, err = tx.ListFlagChanges(r.Context(), sqlstore.FlagChangeFilter{Service: service, Environment: env, Key: key, State: shipgate.FlagChangePending, Limit: 1000}); err != nil {
			return err
		}
		if err := tx.FillAwaiting(r.Context(), out.Pending); err != nil {
			return err
		}
		return tx.FillAwaiting(r.Context(), out.Changes)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) listFlagChanges(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	q := r.URL.Query()
	f := sqlstore.FlagChangeFilter{Service: q.Get("service"), Environment: q.Get("environment"), Key: q.Get("key"), State: shipgate.FlagChangeState(q.Get("state"))}
	switch f.State {
	case "", shipgate.FlagChangePending, shipgate.FlagChangeApplied, shipgate.FlagChangeRejected, shipgate.FlagChangeSuperseded, shipgate.FlagChangeExpired:
	default:
		return shipgate.Errorf(shipgate.EINVALID, "state=%q: use pending, applied, rejected, superseded or expired", f.State)
	}
	var err error
	if f.ReleaseID, err = queryInt(r, "release"); err != nil {
		return err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	f.Limit = int(min(limit, 1000))
	var out []shipgate.FlagChange
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		if out, err = tx.ListFlagChanges(r.Context(), f); err != nil {
			return err
		}
		return tx.FillAwaiting(r.Context(), out)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) changeFlag(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.FlagChangeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	sr := sqlstore.FlagChangeRequest{Actor: u.Name, Service: r.PathValue("service"), Environment: r.PathValue("environment"),
		Key: r.PathValue("key"), Op: req.Op, Reason: req.Reason}
	switch req.Op {
	case shipgate.FlagOpSet:
		if req.Flag == nil {
			return shipgate.Errorf(shipgate.EINVALID, "op set needs the flag's new definition in \"flag\"")
		}
		if req.Rollout != nil {
			return shipgate.Errorf(shipgate.EINVALID, "op set takes the whole definition in \"flag\"; put the rollout there")
		}
		sr.Mutate = func(f *shipgate.Flag) error {
			next := *req.Flag
			if next.Key == "" {
				next.Key = f.Key
			}
			*f = next
			return nil
		}
	case shipgate.FlagOpRollout:
		if req.Flag != nil {
			return shipgate.Errorf(shipgate.EINVALID, "op rollout takes only \"rollout\" (null or left out clears it)")
		}
		sr.Mutate = func(f *shipgate.Flag) error {
			f.Rollout = req.Rollout
			return nil
		}
	default:
		if req.Flag != nil || req.Rollout != nil {
			return shipgate.Errorf(shipgate.EINVALID, "op %s takes no \"flag\" or \"rollout\"", req.Op)
		}
	}
	var c *shipgate.FlagChange
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		c, err = tx.ChangeFlag(r.Context(), sr)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	status := http.StatusOK
	if c.State == shipgate.FlagChangePending {
		status = http.StatusAccepted
	}
	writeJSON(w, status, c)
	return nil
}

func (h *Handler) killFlag(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.FlagKillRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var c *shipgate.FlagChange
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		c, err = tx.KillFlag(r.Context(), u.Name, r.PathValue("service"), r.PathValue("environment"), r.PathValue("key"), req.Reason)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (h *Handler) killReleaseFlags(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.FlagKillRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var out []shipgate.FlagChange
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.KillReleaseFlags(r.Context(), u.Name, id, req.Reason)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) approveFlagChange(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	return h.decideFlagChange(w, r, u, shipgate.DecisionApprove)
}

func (h *Handler) rejectFlagChange(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	return h.decideFlagChange(w, r, u, shipgate.DecisionReject)
}

// decideFlagChange approves or rejects a pending change. A change the
// decision found expired or superseded is recorded as such (the
// transaction commits) and answered with the error saying so.
func (h *Handler) decideFlagChange(w http.ResponseWriter, r *http.Request, u *shipgate.User, decision string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.FlagDecisionRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var c *shipgate.FlagChange
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		if decision == shipgate.DecisionApprove {
			c, err = tx.ApproveFlagChange(r.Context(), id, u, req.Comment)
		} else {
			c, err = tx.RejectFlagChange(r.Context(), id, u, req.Comment)
		}
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	if err := c.DroppedError(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

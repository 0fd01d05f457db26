package httpapi

import (
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) createFreeze(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.FreezeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.All && req.Environment != "":
		return shipgate.Errorf(shipgate.EINVALID, "give an environment or all, not both")
	case !req.All && req.Environment == "":
		return shipgate.Errorf(shipgate.EINVALID, "name the environment to freeze (--env), or freeze every environment (--all)")
	}
	f := &shipgate.Freeze{Service: req.Service, Environment: req.Environment, From: req.From, To: req.To, Reason: req.Reason, CreatedBy: u.Name}
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error { return tx.CreateFreeze(r.Context(), f) })
	if err != nil {
		return err
	}
	h.changed()
	writeJSON(w, http.StatusCreated, f)
	return nil
}

func (h *Handler) listFreezes(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	all := false
	switch v := r.URL.Query().Get("all"); v {
	case "", "false":
	case "true":
		all = true
	default:
		return shipgate.Errorf(shipgate.EINVALID, "all=%q: use true or false", v)
	}
	var out []shipgate.Freeze
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListFreezes(r.Context(), all)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) endFreeze(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := readJSON(r, &struct{}{}); err != nil {
		return err
	}
	var f *shipgate.Freeze
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		f, err = tx.EndFreeze(r.Context(), id, u.Name)
		return err
	})
	if err != nil {
		return err
	}
	h.changed() // the releases it held may start
	writeJSON(w, http.StatusOK, f)
	return nil
}

func (h *Handler) requestFreezeOverride(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.OverrideRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		_, err := tx.RequestFreezeOverride(r.Context(), id, u.Name, req.Reason)
		return err
	})
	if err != nil {
		return err
	}
	return h.writeRelease(w, r, http.StatusCreated, id)
}

// approveFreezeOverride needs only read: membership of the server's
// override group is what grants it.
func (h *Handler) approveFreezeOverride(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := readJSON(r, &struct{}{}); err != nil {
		return err
	}
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		_, err := reconcile.ApproveFreezeOverride(r.Context(), tx, id, u.Name, h.FreezeOverrideGroup)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusOK, id)
}

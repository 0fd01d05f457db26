package httpapi

import (
	"net/http"
	"strconv"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) applyService(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.ApplyRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Filename == "" {
		req.Filename = "service.yaml"
	}
	spec, locate, err := config.ParseServiceLines(req.Filename, []byte(req.Source))
	if err != nil {
		return err
	}
	if h.NotifySinks != nil {
		if err := shipgate.CheckNotifySinks(spec, h.NotifySinks); err != nil {
			return locate.Error(err)
		}
	}
	var resp client.ApplyResult
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		resp.Revision, resp.Changed, err = tx.ApplyService(r.Context(), u.Name, spec, req.Filename, req.Source)
		return locate.Error(err)
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if resp.Changed {
		status = http.StatusCreated
	}
	writeJSON(w, status, resp)
	return nil
}

func (h *Handler) listServices(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []*shipgate.Service
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListServices(r.Context())
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getService(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out *shipgate.Service
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.FindService(r.Context(), r.PathValue("name"))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) listRevisions(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []shipgate.ServiceRevision
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListServiceRevisions(r.Context(), r.PathValue("name"))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getRevision(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	rev, err := strconv.Atoi(r.PathValue("revision"))
	if err != nil || rev <= 0 {
		return shipgate.Errorf(shipgate.EINVALID, "%q is not a revision number", r.PathValue("revision"))
	}
	var out *shipgate.ServiceRevision
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.FindServiceRevision(r.Context(), r.PathValue("name"), rev)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

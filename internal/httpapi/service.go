package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

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
		// A policy naming a group without members can never be approved:
		// refused unless the applier says they will add the members later.
		missing, err := tx.CheckGroups(r.Context(), spec)
		var unknown *config.Error
		if err != nil && !errors.As(locate.Error(err), &unknown) {
			return err
		}
		if unknown != nil && !req.AllowUnknownGroups {
			return unknown
		}
		if err := checkPolicies(r.Context(), tx, spec); err != nil {
			return locate.Error(err)
		}
		resp.Revision, resp.Changed, err = tx.ApplyService(r.Context(), u.Name, spec, req.Filename, req.Source)
		if err != nil {
			return locate.Error(err)
		}
		// A policy nobody can satisfy today is applied (members may be
		// added later), with a warning at its line.
		short, err := tx.PolicyApprovalWarnings(r.Context(), spec, missing)
		if err != nil {
			return err
		}
		var located *config.Error
		if len(short) > 0 && errors.As(locate.Error(&shipgate.ValidationError{Problems: short}), &located) {
			for _, p := range located.Problems {
				resp.Warnings = append(resp.Warnings, p.String())
			}
		}
		if cw := spec.ChecklistWarnings(); len(cw) > 0 && errors.As(locate.Error(&shipgate.ValidationError{Problems: cw}), &located) {
			for _, p := range located.Problems {
				resp.Warnings = append(resp.Warnings, p.String())
			}
		}
		if unknown == nil {
			return nil
		}
		for _, p := range unknown.Problems {
			resp.Warnings = append(resp.Warnings, strings.TrimSuffix(p.String(), ", or apply with --allow-unknown-groups"))
		}
		if !resp.Changed {
			return nil
		}
		return tx.AuditUnknownGroupsAllowed(r.Context(), u.Name, spec, resp.Revision.Revision, missing)
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

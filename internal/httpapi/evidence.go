package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/evidence"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) evidenceRoutes() []Route {
	return []Route{
		route("POST", "/api/v1/releases/{id}/evidence", shipgate.PermReleaseCreate, "Attach evidence to a release", h.addEvidence),
		route("GET", "/api/v1/releases/{id}/evidence", shipgate.PermRead, "List a release's evidence", h.listEvidence),
		route("GET", "/api/v1/evidence/{id}", shipgate.PermRead, "Show one evidence item", h.getEvidence),
		route("GET", "/api/v1/evidence/{id}/content", shipgate.PermRead, "Download the bytes of an evidence item", h.evidenceContent),
		{Method: "POST", Path: "/api/v1/agent/evidence", Perm: shipgate.PermAgent, Summary: "Attach a file a step of a held attempt produced as evidence", agent: h.agentEvidence},
	}
}

// evidenceMaxBytes is the bound on one evidence upload.
func (h *Handler) evidenceMaxBytes() int64 {
	if h.EvidenceMaxBytes > 0 {
		return h.EvidenceMaxBytes
	}
	return evidence.DefaultMaxBytes
}

// bodyLimit is the request body bound of r: evidence uploads carry files
// (SBOMs, SARIF reports) larger than any JSON request.
func (h *Handler) bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && (r.URL.Path == "/api/v1/agent/evidence" ||
		strings.HasPrefix(r.URL.Path, "/api/v1/releases/") && strings.HasSuffix(r.URL.Path, "/evidence")) {
		return max(h.evidenceMaxBytes(), h.MaxBodyBytes)
	}
	return h.MaxBodyBytes
}

// checkUploadSize refuses an upload whose declared length is over the
// bound before anything else is looked at, as any body over its limit is.
func (h *Handler) checkUploadSize(r *http.Request) error {
	if limit := h.bodyLimit(r); r.ContentLength > limit {
		return shipgate.Errorf(shipgate.ETOOLARGE, "request body is larger than the limit of %d bytes", limit)
	}
	return nil
}

func (h *Handler) addEvidence(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	if err := h.checkUploadSize(r); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	up := reconcile.EvidenceUpload{ReleaseID: id, Type: q.Get("type"), Name: q.Get("name"), URL: q.Get("url"), Title: q.Get("title"), Actor: u.Name}
	if up.Type == "" {
		return shipgate.Errorf(shipgate.EINVALID, "give the evidence type (type=%s)", strings.Join(evidence.Types, "|"))
	}
	if up.Content, err = readBody(r); err != nil {
		return err
	}
	e, added, err := reconcile.AttachEvidence(r.Context(), h.DB, h.Signatures, up, nil)
	if err != nil {
		return err
	}
	writeEvidence(w, e, added)
	return nil
}

// writeEvidence answers 201 with a new item, or 200 with the item
// attached before when the release already had these bytes as this type.
func writeEvidence(w http.ResponseWriter, e shipgate.Evidence, added bool) {
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	writeJSON(w, status, e)
}

func (h *Handler) agentEvidence(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	if err := h.checkUploadSize(r); err != nil {
		return err
	}
	q := r.URL.Query()
	key, err := attemptQuery(r)
	if err != nil {
		return err
	}
	if key.ReleaseID == 0 || key.Job == "" || key.Run == 0 || key.Attempt == 0 {
		return shipgate.Errorf(shipgate.EINVALID, "name the attempt: release, run, job and attempt")
	}
	typ, name := q.Get("type"), q.Get("name")
	if err := evidence.CheckType(typ); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	e, added, err := h.Dispatcher.AttachEvidence(r.Context(), a.Name, key, typ, name, body)
	if err != nil {
		return err
	}
	writeEvidence(w, e, added)
	return nil
}

func (h *Handler) listEvidence(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var out []shipgate.Evidence
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		if _, err := tx.FindRelease(r.Context(), id); err != nil {
			return err
		}
		out, err = tx.ListEvidence(r.Context(), id)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) findEvidence(ctx context.Context, r *http.Request) (shipgate.Evidence, error) {
	id, err := pathID(r)
	if err != nil {
		return shipgate.Evidence{}, err
	}
	var e shipgate.Evidence
	err = h.DB.View(ctx, func(tx *sqlstore.Tx) error {
		e, err = tx.FindEvidence(ctx, id)
		return err
	})
	return e, err
}

func (h *Handler) getEvidence(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	e, err := h.findEvidence(r.Context(), r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (h *Handler) evidenceContent(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	e, err := h.findEvidence(r.Context(), r)
	if err != nil {
		return err
	}
	var b []byte
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		b, err = tx.EvidenceContent(r.Context(), e.SHA256)
		return err
	})
	if err != nil {
		return err
	}
	// Served as bytes to save, never as a page a browser would render.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Evidence-SHA256", e.SHA256)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	if err != nil {
		h.Logger.Warn("evidence download interrupted", "id", e.ID, "err", err)
	}
	return nil
}

package httpapi

import (
	"net/http"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// auditFilter reads the query parameters the audit routes share.
func auditFilter(r *http.Request) (shipgate.AuditFilter, error) {
	var f shipgate.AuditFilter
	var err error
	if f.AfterSeq, err = queryInt(r, "after"); err != nil {
		return f, err
	}
	if f.ReleaseID, err = queryInt(r, "release"); err != nil {
		return f, err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return f, err
	}
	f.Limit = int(limit)
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, shipgate.Errorf(shipgate.EINVALID, "since=%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		f.Since = &t
	}
	if s := r.URL.Query().Get("until"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, shipgate.Errorf(shipgate.EINVALID, "until=%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		f.Until = &t
	}
	q := r.URL.Query()
	f.Actor, f.Subject, f.ActionPrefix = q.Get("actor"), q.Get("subject"), q.Get("action")
	for name, v := range map[string]string{"actor": f.Actor, "subject": f.Subject, "action": f.ActionPrefix} {
		if len(v) > maxAuditFilterLen {
			return f, shipgate.Errorf(shipgate.EINVALID, "%s is %d bytes long; the limit is %d", name, len(v), maxAuditFilterLen)
		}
	}
	return f, nil
}

// maxAuditFilterLen bounds the text filters of the audit routes.
const maxAuditFilterLen = 256

// listFilter adds what only a page of the log reads: the order, and where
// a newest-first page continues.
func listFilter(r *http.Request, f *shipgate.AuditFilter) error {
	var err error
	if f.BeforeSeq, err = queryInt(r, "before"); err != nil {
		return err
	}
	switch o := r.URL.Query().Get("order"); o {
	case "", "asc":
	case "desc":
		f.Newest = true
	default:
		return shipgate.Errorf(shipgate.EINVALID, "order=%q: use asc (oldest first, the default) or desc (newest first)", o)
	}
	if f.BeforeSeq > 0 && !f.Newest {
		return shipgate.Errorf(shipgate.EINVALID, "before= pages newest first: add order=desc (oldest first pages with after=)")
	}
	return nil
}

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	if err := listFilter(r, &f); err != nil {
		return err
	}
	var page client.AuditPage
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		if page.Head.Seq, page.Head.Hash, err = tx.AuditHead(r.Context()); err != nil {
			return err
		}
		page.Events, err = tx.ListAudit(r.Context(), f)
		return err
	})
	if err != nil {
		return err
	}
	if page.Events == nil {
		page.Events = []shipgate.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (h *Handler) signer() (*shipgate.AuditSigner, error) {
	if h.AuditSigner == nil {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no audit signing key, so it signs no checkpoints")
	}
	return h.AuditSigner, nil
}

func (h *Handler) auditPublicKey(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	s, err := h.signer()
	if err != nil {
		return err
	}
	k := s.PublicKey()
	writeJSON(w, http.StatusOK, client.AuditPublicKey{PublicKey: k.String(), KeyID: k.ID(), PEM: k.PEM()})
	return nil
}

// createCheckpoint signs the current head. Any reader may ask: an auditor
// needs no other permission, and a head that has not moved gets its
// existing checkpoint back, so asking repeatedly writes nothing.
func (h *Handler) createCheckpoint(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	s, err := h.signer()
	if err != nil {
		return err
	}
	// Stored and returned, not published: the background signer publishes
	// the head within its interval, so a caller asking after every event
	// cannot flood the sinks.
	cp, _, err := h.DB.CheckpointUnpublished(r.Context(), s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cp)
	return nil
}

// latestCheckpoint is the newest checkpoint stored, by any key: what an
// auditor compares with the copies published outside the database. It is
// not verified here; the caller holds the public key to verify it with.
func (h *Handler) latestCheckpoint(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var cp shipgate.AuditCheckpoint
	var ok bool
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		cp, ok, err = tx.NewestCheckpoint(r.Context())
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return shipgate.Errorf(shipgate.ENOTFOUND, "no audit checkpoint has been signed yet")
	}
	writeJSON(w, http.StatusOK, cp)
	return nil
}

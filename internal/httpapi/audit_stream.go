package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// The audit stream: GET /api/v1/audit/stream writes the log as NDJSON,
// one JSON object a line, so a verifier reads it at the speed of the
// store instead of page by page:
//
//	{"head":{"seq":N,"hash":"…"}}      the head, read first
//	{"seq":1,"at":…,"hash":"…"}         each event with seq ≤ head, in order
//	{"end":{"events":K,"last_seq":S,"more":false}}
//
// A stream without its end line was cut and proves nothing. An error after
// the head was sent arrives as {"error":{"code","message"}} in place of the
// end line.

// auditStreamPage bounds one read transaction of the stream (events and
// bytes), so a long chain holds no snapshot open for long and the server's
// memory stays bounded.
const (
	auditStreamPage      = 10000
	auditStreamPageBytes = 4 << 20
)

var errPageFull = errors.New("page full")

func (h *Handler) streamAudit(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	limit := f.Limit // 0: every event up to the head
	if limit < 0 {
		return shipgate.Errorf(shipgate.EINVALID, "limit=%d must not be negative", limit)
	}
	buf := make([]byte, 0, 64<<10)
	sent, last, more := 0, f.AfterSeq, false
	page := func(tx *sqlstore.Tx) error {
		pf := f
		pf.AfterSeq, pf.Limit = last, auditStreamPage
		if limit > 0 {
			pf.Limit = min(pf.Limit, limit-sent)
		}
		n := 0
		err := tx.EachAudit(ctx, pf, func(e *shipgate.AuditEvent) error {
			buf = append(e.AppendJSON(buf), '\n')
			n++
			sent++
			last = e.Seq
			if len(buf) >= auditStreamPageBytes {
				return errPageFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errPageFull) {
			return err
		}
		more = err != nil || n == pf.Limit
		return nil
	}
	// The head and the first page come from one snapshot; an error here is
	// still an ordinary error response.
	err = h.DB.View(ctx, func(tx *sqlstore.Tx) error {
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		f.UpToSeq = seq
		buf = append(buf, `{"head":{"seq":`...)
		buf = strconv.AppendInt(buf, seq, 10)
		buf = append(buf, `,"hash":"`...)
		buf = append(buf, hash...)
		buf = append(buf, "\"}}\n"...)
		if seq == 0 {
			return nil
		}
		return page(tx)
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for {
		if _, err := w.Write(buf); err != nil {
			return nil // the reader went away
		}
		rc.Flush()
		buf = buf[:0]
		if !more || (limit > 0 && sent >= limit) {
			break
		}
		if err := h.DB.View(ctx, page); err != nil {
			h.streamError(w, err)
			return nil
		}
	}
	buf = append(buf, `{"end":{"events":`...)
	buf = strconv.AppendInt(buf, int64(sent), 10)
	buf = append(buf, `,"last_seq":`...)
	buf = strconv.AppendInt(buf, last, 10)
	buf = append(buf, `,"more":`...)
	buf = strconv.AppendBool(buf, limit > 0 && sent >= limit && last < f.UpToSeq)
	buf = append(buf, "}}\n"...)
	w.Write(buf)
	return nil
}

// streamError ends a stream whose status is already sent with an error
// line, which the client reports; the missing end line marks the stream
// as incomplete to any other reader.
func (h *Handler) streamError(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	h.Logger.Error("audit stream", "err", err)
	line, _ := json.Marshal(map[string]any{"error": map[string]string{"code": shipgate.ErrorCode(err), "message": shipgate.ErrorMessage(err)}})
	w.Write(append(line, '\n'))
}

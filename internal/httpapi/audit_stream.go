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

// auditStreamPage bounds one read transaction of the stream in events and
// auditStreamChunk in encoded bytes: a page is read into memory, its
// transaction ends, and only then is it written. A client that reads
// slowly, or not at all, then holds no read transaction, pool connection
// or snapshot (which would stall every other reader, and on SQLite the
// WAL's checkpoints) — only one chunk of memory.
const (
	auditStreamPage  = 10000
	auditStreamChunk = 1 << 20
)

// errReaderGone stops a stream whose client went away; errChunkFull ends
// a page whose chunk is full.
var (
	errReaderGone = errors.New("the reader went away")
	errChunkFull  = errors.New("the chunk is full")
)

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
	var headHash string
	err = h.DB.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		f.UpToSeq, headHash, err = tx.AuditHead(ctx)
		return err
	})
	if err != nil {
		return err // nothing sent yet: an ordinary error response
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 0, auditStreamChunk+4096)
	write := func() error {
		if _, err := w.Write(buf); err != nil {
			return errReaderGone
		}
		buf = buf[:0]
		if err := rc.Flush(); err != nil {
			return errReaderGone
		}
		return nil
	}
	buf = append(buf, `{"head":{"seq":`...)
	buf = strconv.AppendInt(buf, f.UpToSeq, 10)
	buf = append(buf, `,"hash":"`...)
	buf = append(buf, headHash...)
	buf = append(buf, "\"}}\n"...)
	sent, last := 0, f.AfterSeq
	for f.UpToSeq > 0 && last < f.UpToSeq && (limit == 0 || sent < limit) {
		pf := f
		pf.AfterSeq, pf.Limit = last, auditStreamPage
		if limit > 0 {
			pf.Limit = min(pf.Limit, limit-sent)
		}
		n, full := 0, false
		err := h.DB.View(ctx, func(tx *sqlstore.Tx) error {
			err := tx.EachAudit(ctx, pf, func(e *shipgate.AuditEvent) error {
				buf = append(e.AppendJSON(buf), '\n')
				n++
				sent++
				last = e.Seq
				if len(buf) >= auditStreamChunk {
					return errChunkFull
				}
				return nil
			})
			if errors.Is(err, errChunkFull) {
				full, err = true, nil
			}
			return err
		})
		if err != nil {
			if write() == nil {
				h.streamError(w, err)
			}
			return nil
		}
		if write() != nil {
			return nil // the reader went away
		}
		if !full && n < pf.Limit {
			break // no more events match
		}
	}
	buf = append(buf, `{"end":{"events":`...)
	buf = strconv.AppendInt(buf, int64(sent), 10)
	buf = append(buf, `,"last_seq":`...)
	buf = strconv.AppendInt(buf, last, 10)
	buf = append(buf, `,"more":`...)
	buf = strconv.AppendBool(buf, limit > 0 && sent >= limit && last < f.UpToSeq)
	buf = append(buf, "}}\n"...)
	write()
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

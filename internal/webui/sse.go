package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// sseWriteTimeout bounds each write of a live stream: a reader that stops
// reading is dropped instead of holding the handler.
const sseWriteTimeout = 10 * time.Second

// stream is one Server-Sent Events response. Events are "replace" ({id,
// html}: static/app.js swaps the element with that id), "append" ({id,
// html}: it appends), and "end" (the stream is over; the script closes it).
type stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// openStream starts an event stream on w.
func openStream(w http.ResponseWriter) *stream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w)}
	// Send the headers now: until they arrive the browser's EventSource
	// (and any client) waits, up to the first event or keep-alive.
	_ = st.rc.Flush()
	return st
}

// send writes one event of kind with data as JSON and flushes it.
func (st *stream) send(kind string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_ = st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprintf(st.w, "event: %s\ndata: %s\n\n", kind, b); err != nil {
		return err
	}
	return st.rc.Flush()
}

// replace sends a fragment that takes the place of the element id.
func (st *stream) replace(id, html string) error {
	return st.send("replace", map[string]string{"id": id, "html": strings.TrimSpace(html)})
}

// appendTo sends html to append to the element id.
func (st *stream) appendTo(id, html string) error {
	return st.send("append", map[string]string{"id": id, "html": html})
}

// comment keeps a quiet stream open through proxies.
func (st *stream) comment() error {
	_ = st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprint(st.w, ": keep-alive\n\n"); err != nil {
		return err
	}
	return st.rc.Flush()
}

// end tells the script the stream is over (the release ended).
func (st *stream) end() error { return st.send("end", map[string]string{}) }

package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sseWriteTimeout bounds each write of a live stream: a reader that stops
// reading is dropped instead of holding the handler.
const sseWriteTimeout = 10 * time.Second

// DefaultMaxStreamsPerUser is how many live streams one user may have
// open at once: a release page opens one, plus one per running job's
// log; a few tabs fit.
const DefaultMaxStreamsPerUser = 32

// streamCount counts each user's open live streams.
type streamCount struct {
	mu   sync.Mutex
	open map[string]int
}

// live wraps a live stream's handler: past MaxStreamsPerUser streams of
// the caller it answers 429 (the browser's EventSource then stops; the
// page still reads on reload) instead of opening another.
func (s *Server) live(fn func(w http.ResponseWriter, r *http.Request, c *call) error) func(w http.ResponseWriter, r *http.Request, c *call) error {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		user := c.User.Name
		s.streams.mu.Lock()
		if s.streams.open[user] >= s.MaxStreamsPerUser {
			s.streams.mu.Unlock()
			status := http.StatusTooManyRequests
			s.render(w, r, c, status, "error", map[string]any{"Title": http.StatusText(status), "Code": "too_many_streams",
				"Message": fmt.Sprintf("you have %d live streams open, the most one user may: close other shipgate tabs, or reload this page", s.MaxStreamsPerUser), "Status": status})
			return nil
		}
		if s.streams.open == nil {
			s.streams.open = map[string]int{}
		}
		s.streams.open[user]++
		s.streams.mu.Unlock()
		defer func() {
			s.streams.mu.Lock()
			if s.streams.open[user]--; s.streams.open[user] <= 0 {
				delete(s.streams.open, user)
			}
			s.streams.mu.Unlock()
		}()
		// No stream lives longer than streamLife: the browser's
		// EventSource reconnects on its own (with the session checked
		// again), so a forgotten tab holds nothing for ever.
		ctx, cancel := context.WithTimeout(r.Context(), streamLife)
		defer cancel()
		r = r.WithContext(ctx)
		c.r = r
		return fn(w, r, c)
	}
}

// streamLife bounds one live stream.
const streamLife = time.Hour

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

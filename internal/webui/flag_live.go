package webui

import (
	"net/http"
	"time"
)

// Live flag pages. While the flags list or a flag's page is open, its
// stream re-reads the flags when anything was audited (every flag change
// is: the chain's head moved) and at least every liveRefresh, re-renders
// the page's live part and sends it when it changed — so a kill made by
// someone else, from the CLI or by a failing release's rollback policy
// shows without a reload. Flags never end, so the stream lasts until the
// reader leaves (or liveMax; the browser then reconnects).

func (s *Server) flagsLive(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.follow(w, r, c, "flags", "flags-list", func() (any, error) { return s.flagsData(r, c) })
}

func (s *Server) flagLive(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.follow(w, r, c, "flag", "flag-body", func() (any, error) { return s.flagData(r, c) })
}

// follow streams the template id of page (also the id of the element it
// replaces), rendered from read, each time it changes. A failure to read
// before the stream opens is an error page; after, it ends the stream.
func (s *Server) follow(w http.ResponseWriter, r *http.Request, c *call, page, id string, read func() (any, error)) error {
	d, err := read()
	if err != nil {
		return err
	}
	head, err := s.auditHead(r)
	if err != nil {
		return err
	}
	st := openStream(w)
	var sent string
	push := func(d any) (bool, error) {
		html, err := s.fragment(page, id, c, d)
		if err != nil {
			s.Logger.Error("render a live section of a flags page", "page", page, "err", err)
			return false, err
		}
		if html == sent {
			return false, nil
		}
		sent = html
		return true, st.replace(id, html)
	}
	if _, err := push(d); err != nil {
		return nil
	}
	tick := time.NewTicker(livePoll)
	defer tick.Stop()
	start := time.Now()
	lastRead, lastWrite := start, start
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
		now := time.Now()
		if now.Sub(start) > liveMax {
			return nil
		}
		h, err := s.auditHead(r)
		if err != nil {
			return nil
		}
		wrote := false
		if h != head || now.Sub(lastRead) >= liveRefresh {
			// The session may have ended meanwhile (logout, revoked token).
			if _, err := s.session(r); err != nil {
				return nil
			}
			if d, err = read(); err != nil {
				return nil
			}
			head, lastRead = h, now
			if wrote, err = push(d); err != nil {
				return nil
			}
		}
		if wrote {
			lastWrite = now
		} else if now.Sub(lastWrite) >= liveKeepAlive {
			if st.comment() != nil {
				return nil
			}
			lastWrite = now
		}
	}
}

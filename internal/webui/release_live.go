package webui

import (
	"net/http"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Live updates. While a release page is open, its stream re-reads the
// release when anything was audited (the chain's head moved: one row to
// read each second) and at least every liveRefresh, re-renders the live
// sections and sends those that changed; a pending rollback's countdown
// is re-rendered every second. It ends when nothing more can change.
const (
	livePoll      = time.Second
	liveRefresh   = 5 * time.Second
	liveKeepAlive = 15 * time.Second
	// liveMax bounds one stream; the browser reconnects on its own.
	liveMax = time.Hour
)

// liveSections are the page's live parts: the element id each one
// replaces, and its template.
var liveSections = []struct{ ID, Template string }{
	{"release-state", "release-state"},
	{"approvals", "release-approvals"},
	{"policy-decisions", "release-policy"},
	{"evidence", "release-evidence"},
	{"checklist", "release-checklist"},
	{"freezes", "release-freezes"},
	{"jobs", "release-jobs"},
	{"rollback", "release-rollback"},
	{"release-rollout", "release-rollout"},
	{"timeline", "release-timeline"},
}

func (s *Server) releaseLive(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	v, err := releaseView(c, id) // refused or missing: an error page, no stream
	if err != nil {
		return err
	}
	d, err := s.releaseDataGov(c, v)
	if err != nil {
		return err
	}
	st := openStream(w)
	sent := map[string]string{}
	// push sends the sections that changed; wrote says it sent any.
	push := func(d *releasePage) (wrote bool, err error) {
		for _, sec := range liveSections {
			html, err := s.fragment("release", sec.Template, c, d)
			if err != nil {
				s.Logger.Error("render a live section of a release page", "release", id, "section", sec.ID, "err", err)
				return wrote, err
			}
			if sent[sec.ID] != html {
				if err := st.replace(sec.ID, html); err != nil {
					return wrote, err
				}
				sent[sec.ID], wrote = html, true
			}
		}
		return wrote, nil
	}
	head, err := s.auditHead(r)
	if err != nil {
		return nil
	}
	if _, err := push(d); err != nil {
		return nil
	}
	tick := time.NewTicker(livePoll)
	defer tick.Stop()
	start := time.Now()
	lastRead, lastWrite := start, start
	for !ended(d.V) {
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
		if h != head || now.Sub(lastRead) >= liveRefresh {
			// The session may have ended meanwhile (logout, revoked token).
			if _, err := s.session(r); err != nil {
				return nil
			}
			v, err := releaseView(c, id)
			if err != nil {
				return nil
			}
			if d, err = s.releaseDataGov(c, v); err != nil {
				return nil
			}
			head, lastRead = h, now
		} else if d.Rollback != nil && d.Rollback.Waiting {
			// Nothing was audited: the governance sections stand.
			gov := d.Gov
			if d, err = s.releaseData(c, d.V); err != nil { // the countdown moves
				return nil
			}
			d.Gov = gov
		}
		wrote, err := push(d)
		if err != nil {
			return nil
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
	_ = st.end()
	return nil
}

// ended reports whether nothing more can happen to the release on its own:
// it is final and its rollback, if any, no longer waits or runs.
func ended(v *client.ReleaseView) bool {
	if !v.State.Final() {
		return false
	}
	if rb := v.Rollback; rb != nil && (rb.Open() || rb.State == shipgate.RollbackFired) {
		return false
	}
	return true
}

// auditHead is the seq of the audit chain's last event: every change
// records an event, so a page that saw this head has seen every change.
func (s *Server) auditHead(r *http.Request) (int64, error) {
	var seq int64
	err := s.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		seq, _, err = tx.AuditHead(r.Context())
		return err
	})
	return seq, err
}

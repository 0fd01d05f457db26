package webui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/shipgate/shipgate"
)

// releaseRoutes: the releases list.
func (s *Server) releaseRoutes() []route {
	return []route{
		{"GET /releases", s.releasesPage},
	}
}

// pageSize is how many releases a page of the list shows; awaitingSize
// how many of those waiting for the reader's approval it lists at the
// top (with a link to the rest when there are more).
const (
	pageSize     = 50
	awaitingSize = 20
)

// listFilters are the list's filters: query parameter of the page, and
// of GET /api/v1/releases.
var listFilters = []struct{ Page, API string }{
	{"service", "service"}, {"environment", "environment"}, {"state", "state"}, {"who", "created_by"}, {"before", "before"},
}

type releasesData struct {
	Filter   url.Values
	States   []shipgate.ReleaseState
	Releases []*shipgate.Release
	Next     string // the next page's address, "" on the last page
	Newest   string // the first page's address, "" on the first page
	// MayApprove: the reader holds the approver role, so the list shows
	// what waits for them; Awaiting is that (at most awaitingSize), and
	// MoreAwaiting says there are more than it shows.
	MayApprove   bool
	Awaiting     []*shipgate.Release
	MoreAwaiting bool
}

func (d releasesData) PageTitle() string { return "Releases" }

// releasesPage lists releases, newest first, with the page's filters; at
// its top, the pending releases the reader may approve now. Two bounded
// API calls: the page, and the awaiting list.
func (s *Server) releasesPage(w http.ResponseWriter, r *http.Request, c *call) error {
	q, api := url.Values{}, url.Values{}
	for _, f := range listFilters {
		if v := r.URL.Query().Get(f.Page); v != "" {
			q.Set(f.Page, v)
			api.Set(f.API, v)
		}
	}
	api.Set("limit", strconv.Itoa(pageSize))
	d := releasesData{Filter: q, States: shipgate.ReleaseStates, MayApprove: c.Can(string(shipgate.PermApprove))}
	if err := c.API("GET", "/api/v1/releases?"+api.Encode(), nil, &d.Releases); err != nil {
		return err
	}
	if q.Has("before") {
		first := url.Values{}
		for k, v := range q {
			if k != "before" {
				first[k] = v
			}
		}
		d.Newest = "/releases"
		if len(first) > 0 {
			d.Newest += "?" + first.Encode()
		}
	}
	if len(d.Releases) == pageSize {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("before", strconv.FormatInt(d.Releases[len(d.Releases)-1].ID, 10))
		d.Next = "/releases?" + next.Encode()
	}
	if d.MayApprove {
		aw := url.Values{"awaiting": {"me"}, "limit": {strconv.Itoa(awaitingSize + 1)}}
		if err := c.API("GET", "/api/v1/releases?"+aw.Encode(), nil, &d.Awaiting); err != nil {
			return err
		}
		if len(d.Awaiting) > awaitingSize {
			d.Awaiting, d.MoreAwaiting = d.Awaiting[:awaitingSize], true
		}
	}
	s.render(w, r, c, http.StatusOK, "releases", d)
	return nil
}

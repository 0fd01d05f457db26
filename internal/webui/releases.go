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

// pageSize is how many releases a page of the list shows.
const pageSize = 50

type releasesData struct {
	Filter   url.Values
	Releases []*shipgate.Release
	Next     string // the next page's query, "" on the last page
}

func (d releasesData) PageTitle() string { return "Releases" }

func (s *Server) releasesPage(w http.ResponseWriter, r *http.Request, c *call) error {
	q := url.Values{}
	for _, k := range []string{"service", "environment", "state", "before"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	api := url.Values{}
	for k, v := range q {
		api[k] = v
	}
	api.Set("limit", strconv.Itoa(pageSize))
	var d releasesData
	d.Filter = q
	if err := c.API("GET", "/api/v1/releases?"+api.Encode(), nil, &d.Releases); err != nil {
		return err
	}
	if len(d.Releases) == pageSize {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("before", strconv.FormatInt(d.Releases[len(d.Releases)-1].ID, 10))
		d.Next = next.Encode()
	}
	s.render(w, r, c, http.StatusOK, "releases", d)
	return nil
}

package webui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// The services pages: every service with what runs in each environment;
// one service with its environments' latest releases, waiting rollbacks
// and the history of its service file; one revision of the file with a
// line diff against the revision before it.

func (s *Server) serviceRoutes() []route {
	return []route{
		{"GET /services", s.servicesPage},
		{"GET /services/{name}", s.servicePage},
		{"GET /services/{name}/revisions/{rev}", s.revisionPage},
	}
}

// maxServicesListed bounds the services page: each service listed costs
// a read of its environments.
const maxServicesListed = 200

type serviceRow struct {
	*shipgate.Service
	Environments []client.EnvironmentStatus
	// Freezes are the active and upcoming freezes covering the service.
	Freezes []shipgate.Freeze
}

type servicesData struct {
	Services []serviceRow
	More     int // services past the bound, not listed
	// Freezes is every active and upcoming freeze (governance.go).
	Freezes []shipgate.Freeze
}

func (servicesData) PageTitle() string { return "Services" }

func (s *Server) servicesPage(w http.ResponseWriter, r *http.Request, c *call) error {
	var list []*shipgate.Service
	if err := c.API("GET", "/api/v1/services", nil, &list); err != nil {
		return err
	}
	var d servicesData
	if err := c.API("GET", "/api/v1/freezes", nil, &d.Freezes); err != nil {
		return err
	}
	if len(list) > maxServicesListed {
		d.More = len(list) - maxServicesListed
		list = list[:maxServicesListed]
	}
	for _, svc := range list {
		row := serviceRow{Service: svc, Freezes: firstFreezes(freezesFor(d.Freezes, svc.Name, ""))}
		if err := c.API("GET", "/api/v1/services/"+url.PathEscape(svc.Name)+"/environments", nil, &row.Environments); err != nil {
			return err
		}
		d.Services = append(d.Services, row)
	}
	s.render(w, r, c, http.StatusOK, "services", d)
	return nil
}

type serviceData struct {
	Service      *shipgate.Service
	Environments []client.EnvironmentStatus
	Revisions    []shipgate.ServiceRevision
	// Freezes are the active and upcoming freezes covering the service.
	Freezes []shipgate.Freeze
}

func (d serviceData) PageTitle() string { return "Service " + d.Service.Name }

func (s *Server) servicePage(w http.ResponseWriter, r *http.Request, c *call) error {
	name := url.PathEscape(r.PathValue("name"))
	var d serviceData
	if err := c.API("GET", "/api/v1/services/"+name, nil, &d.Service); err != nil {
		return err
	}
	if err := c.API("GET", "/api/v1/services/"+name+"/environments", nil, &d.Environments); err != nil {
		return err
	}
	if err := c.API("GET", "/api/v1/services/"+name+"/revisions", nil, &d.Revisions); err != nil {
		return err
	}
	var fs []shipgate.Freeze
	if err := c.API("GET", "/api/v1/freezes", nil, &fs); err != nil {
		return err
	}
	d.Freezes = firstFreezes(freezesFor(fs, d.Service.Name, ""))
	s.render(w, r, c, http.StatusOK, "service", d)
	return nil
}

type revisionData struct {
	Revision *shipgate.ServiceRevision
	Previous *shipgate.ServiceRevision // nil for the first revision
	Diff     textDiff
	Source   []diffLine // the revision's source, numbered
	Newer    int        // the next revision, 0 if this is the newest
}

func (d revisionData) PageTitle() string {
	return "Service " + d.Revision.Service + " revision " + strconv.Itoa(d.Revision.Revision)
}

func (s *Server) revisionPage(w http.ResponseWriter, r *http.Request, c *call) error {
	name := url.PathEscape(r.PathValue("name"))
	rev, err := strconv.Atoi(r.PathValue("rev"))
	if err != nil || rev <= 0 {
		return shipgate.Errorf(shipgate.EINVALID, "%q is not a revision number", r.PathValue("rev"))
	}
	// The list says which revisions exist: the one before this is the
	// highest lower number, the one after it the lowest higher number.
	var revs []shipgate.ServiceRevision
	if err := c.API("GET", "/api/v1/services/"+name+"/revisions", nil, &revs); err != nil {
		return err
	}
	prev := 0
	var d revisionData
	for _, rv := range revs {
		if rv.Revision < rev && rv.Revision > prev {
			prev = rv.Revision
		}
		if rv.Revision > rev && (d.Newer == 0 || rv.Revision < d.Newer) {
			d.Newer = rv.Revision
		}
	}
	// ?against=N compares with revision N instead of the one before: the
	// release page links here to show what changed between the revision
	// running in an environment and the one a release would deploy.
	if v := r.URL.Query().Get("against"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n == rev {
			return shipgate.Errorf(shipgate.EINVALID, "against=%q is not another revision's number", v)
		}
		prev = n
	}
	if err := c.API("GET", "/api/v1/services/"+name+"/revisions/"+strconv.Itoa(rev), nil, &d.Revision); err != nil {
		return err
	}
	old := ""
	if prev > 0 {
		if err := c.API("GET", "/api/v1/services/"+name+"/revisions/"+strconv.Itoa(prev), nil, &d.Previous); err != nil {
			return err
		}
		old = d.Previous.Source
	}
	d.Diff = diffLines(old, d.Revision.Source)
	for i, l := range splitLines(d.Revision.Source) {
		d.Source = append(d.Source, diffLine{Op: diffSame, Text: l, New: i + 1})
	}
	s.render(w, r, c, http.StatusOK, "revision", d)
	return nil
}

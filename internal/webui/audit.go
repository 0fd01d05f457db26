package webui

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// The audit page: the whole hash chain, newest first, a page at a time,
// filtered as the API filters it; and, on demand, the chain verified
// server-side with the verifier the CLI uses, beside the latest signed
// checkpoint.

func (s *Server) auditRoutes() []route {
	return []route{
		{"GET /audit", s.auditPage},
		{"GET /audit/verify", s.auditVerifyPage},
		{"POST /audit/checkpoint", s.auditCheckpoint},
	}
}

// auditPageSize is how many events a page of the audit log shows.
const auditPageSize = 50

// auditFilterFields are the query parameters of the audit page that pass
// through to the API as they are.
var auditFilterFields = []string{"actor", "action", "subject"}

type auditRow struct {
	shipgate.AuditEvent
	ReleaseID int64  // the release the subject names, 0 if none
	Pretty    string // the details, indented
}

type auditData struct {
	Filter    url.Values // as typed, for the form and the links
	Events    []auditRow
	Head      client.AuditHead
	Next      template.URL // the older page, "" on the last page
	Filtered  bool
	FromStart bool         // the page starts at the newest event
	Newest    template.URL // the first page with the same filters
}

func (auditData) PageTitle() string { return "Audit log" }

// timeParam reads a time from a form: RFC 3339, or what a datetime-local
// control sends (taken as UTC, which the page says).
func timeParam(name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC().Format(time.RFC3339), nil
		}
	}
	return "", shipgate.Errorf(shipgate.EINVALID, "%s %q is not a time: use 2026-01-02T15:04 (UTC) or RFC 3339", name, v)
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, c *call) error {
	in := r.URL.Query()
	d := auditData{Filter: url.Values{}}
	api := url.Values{"order": {"desc"}, "limit": {strconv.Itoa(auditPageSize)}}
	for _, k := range auditFilterFields {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			d.Filter.Set(k, v)
			api.Set(k, v)
		}
	}
	for _, k := range []string{"since", "until"} {
		v := strings.TrimSpace(in.Get(k))
		t, err := timeParam(k, v)
		if err != nil {
			return err
		}
		if t != "" {
			d.Filter.Set(k, v)
			api.Set(k, t)
		}
	}
	d.Filtered = len(d.Filter) > 0
	// from: start at this seq and go older; before: the next page's link.
	page := url.Values{}
	if v := in.Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return shipgate.Errorf(shipgate.EINVALID, "from %q is not a sequence number", v)
		}
		d.Filter.Set("from", v)
		api.Set("before", strconv.FormatInt(n+1, 10))
	} else if v := in.Get("before"); v != "" {
		page.Set("before", v)
		api.Set("before", v)
	}
	d.FromStart = api.Get("before") == ""
	var ap client.AuditPage
	if err := c.API("GET", "/api/v1/audit?"+api.Encode(), nil, &ap); err != nil {
		return err
	}
	d.Head = ap.Head
	for _, e := range ap.Events {
		row := auditRow{AuditEvent: e, Pretty: prettyJSON(e.Details)}
		if id, ok := shipgate.ReleaseIDOf(e.Subject); ok {
			row.ReleaseID = id
		}
		d.Events = append(d.Events, row)
	}
	newest := url.Values{}
	for k, v := range d.Filter {
		if k != "from" {
			newest[k] = v
		}
	}
	// Encode escapes every value: the links are safe as URLs.
	d.Newest = template.URL("/audit?" + newest.Encode())
	if n := len(ap.Events); n == auditPageSize && ap.Events[n-1].Seq > 1 {
		newest.Set("before", strconv.FormatInt(ap.Events[n-1].Seq, 10))
		d.Next = template.URL("/audit?" + newest.Encode())
	}
	s.render(w, r, c, http.StatusOK, "audit", d)
	return nil
}

// prettyJSON indents an event's details for reading, with <, > and &
// shown as themselves (the template escapes them for HTML); details that
// are not JSON (they always are) are shown as they are.
func prettyJSON(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(b)
	}
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return ""
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return string(b)
	}
	return strings.TrimSuffix(out.String(), "\n")
}

type checkpointView struct {
	shipgate.AuditCheckpoint
	// Verified: the signature verifies with the server's public key.
	Verified bool
	Problem  string // why it does not verify, or why it was not checked
}

type verifyData struct {
	OK      bool
	Result  shipgate.AuditVerification
	Problem string // the first broken seq and why
	Took    time.Duration
	// Anchored: the chain was also held to the latest checkpoint.
	Anchored   bool
	Checkpoint *checkpointView
	NoCheckpt  string // why there is no checkpoint to show
	KeyID      string
	CanSign    bool
}

func (verifyData) PageTitle() string { return "Audit chain verification" }

// verifying lets one verification of the whole chain run at a time in
// this process: each reads every event, and a second one at the same
// moment would only halve the speed of both. Others wait their turn.
var verifying = make(chan struct{}, 1)

// auditVerifyPage verifies the whole chain now: the store streams it in
// pages of their own read transactions through shipgate.AuditVerifier (the
// verifier `shipgate audit verify` runs), in constant memory, held to the
// latest stored checkpoint when it verifies with the server's key.
func (s *Server) auditVerifyPage(w http.ResponseWriter, r *http.Request, c *call) error {
	// The audit log is the API's to show: ask it, so a user who may not
	// read it is refused (and audited) as the API refuses them.
	if err := c.API("GET", "/api/v1/audit?limit=1", nil, nil); err != nil {
		return err
	}
	var d verifyData
	var keys []shipgate.AuditPublicKey
	var pk client.AuditPublicKey
	keyErr := c.API("GET", "/api/v1/audit/public-key", nil, &pk)
	if keyErr == nil {
		k, err := shipgate.ParseAuditPublicKey(pk.PublicKey)
		if err != nil {
			return err
		}
		keys, d.KeyID, d.CanSign = []shipgate.AuditPublicKey{k}, pk.KeyID, true
	}
	var cp shipgate.AuditCheckpoint
	switch err := c.API("GET", "/api/v1/audit/checkpoints/latest", nil, &cp); {
	case err == nil:
		v := &checkpointView{AuditCheckpoint: cp}
		switch {
		case keyErr != nil:
			v.Problem = "not checked: " + shipgate.ErrorMessage(keyErr)
		default:
			if err := shipgate.VerifyCheckpoint(&cp, keys); err != nil {
				v.Problem = shipgate.ErrorMessage(err)
			} else {
				v.Verified = true
			}
		}
		d.Checkpoint = v
	case shipgate.ErrorCode(err) == shipgate.ENOTFOUND:
		d.NoCheckpt = shipgate.ErrorMessage(err)
	default:
		return err
	}
	select {
	case verifying <- struct{}{}:
		defer func() { <-verifying }()
	case <-c.ctx().Done():
		return c.ctx().Err()
	}
	start := time.Now()
	var err error
	if d.Checkpoint != nil && d.Checkpoint.Verified {
		d.Anchored = true
		d.Result, err = s.DB.VerifyAuditAnchored(c.ctx(), keys, []shipgate.AuditCheckpoint{cp})
	} else {
		d.Result, err = s.DB.VerifyAuditAnchored(c.ctx(), nil, nil)
	}
	d.Took = time.Since(start).Round(time.Microsecond)
	if err != nil {
		// The verifier names the first broken seq in a plain error; a
		// checkpoint it cannot hold the chain to is a shipgate error.
		// Anything else (the database failing) is not a finding.
		var se *shipgate.Error
		switch {
		case c.ctx().Err() != nil:
			return err
		case errors.As(err, &se):
			d.Problem = se.Message
		case strings.HasPrefix(err.Error(), "audit chain broken"):
			d.Problem = err.Error()
		default:
			return err
		}
	} else {
		d.OK = true
	}
	s.render(w, r, c, http.StatusOK, "auditverify", d)
	return nil
}

// auditCheckpoint has the server sign its head now (the API's on-demand
// checkpoint), then shows the verification with it.
func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := c.API("POST", "/api/v1/audit/checkpoints", nil, nil); err != nil {
		return err
	}
	return redirect(w, r, "/audit/verify")
}

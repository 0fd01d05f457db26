// Package webui is shipgate's web UI: server-rendered pages (html/template)
// on the API's listener, for approvers, operators and auditors. It works
// for reading with JavaScript off; a small script of our own (static/app.js)
// adds live updates over Server-Sent Events.
//
// The UI holds no rule of its own. It reads and acts through the API's
// routes, in process, as the session's user (httpapi.AsUser): the same
// permission checks, separation of duties, digest binding and audited
// refusals as a CLI call. Its own additions are the session (a cookie
// standing for one of the user's API tokens) and the CSRF token every
// state-changing form carries.
package webui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Cookie names. The session cookie holds the session's secret; the login
// cookie guards the login form against login CSRF (double submit).
const (
	SessionCookie = "shipgate_session"
	loginCookie   = "shipgate_login"
	csrfField     = "csrf"
)

// MaxFormBytes bounds a form post: comments and reasons are short.
const MaxFormBytes = 64 << 10

// Server is the web UI. Create it with New.
type Server struct {
	API    *httpapi.Handler
	DB     *sqlstore.DB
	Logger *slog.Logger
	// SessionLifetime is how long a login lasts (DefaultSessionLifetime
	// when zero).
	SessionLifetime time.Duration
	// TLS marks the session cookie Secure; set it when the listener serves
	// TLS (or a TLS-terminating proxy in front of it is the only way in).
	TLS bool
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// MaxStreamsPerUser bounds the live streams one user has open at
	// once (DefaultMaxStreamsPerUser when zero): each polls the store, so
	// one reader must not be able to slow the server for everyone.
	MaxStreamsPerUser int

	mux     *http.ServeMux
	pages   map[string]*template.Template
	streams streamCount
	logins  loginPace
}

// New builds the UI over the API it calls.
func New(s *Server) (*Server, error) {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.SessionLifetime <= 0 {
		s.SessionLifetime = shipgate.DefaultSessionLifetime
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.MaxStreamsPerUser <= 0 {
		s.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/releases", http.StatusSeeOther)
	})
	// Browsers ask for /favicon.ico on their own; answering it here keeps
	// that request from being sent to /login.
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.page(s.logout))
	for _, p := range s.routes() {
		s.mux.HandleFunc(p.pattern, s.page(p.handle))
	}
	s.mux.HandleFunc("/", s.page(func(w http.ResponseWriter, r *http.Request, c *call) error {
		return shipgate.Errorf(shipgate.ENOTFOUND, "no page %s", r.URL.Path)
	}))
	return s, nil
}

// route is one UI page or form action. Every route but the login page and
// static files needs a session; every POST needs the session's CSRF token.
type route struct {
	pattern string
	handle  func(w http.ResponseWriter, r *http.Request, c *call) error
}

// routes lists the UI's pages and form actions, page by page.
func (s *Server) routes() []route {
	var out []route
	for _, add := range []func() []route{s.releaseRoutes, s.releasePageRoutes, s.rolloutRoutes, s.auditRoutes, s.serviceRoutes, s.agentRoutes, s.governanceRoutes, s.flagRoutes, s.insightsRoutes} {
		out = append(out, add()...)
	}
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The UI loads nothing from elsewhere and runs no inline script.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	s.mux.ServeHTTP(w, r)
}

func staticHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // files only, no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// call is one request of a logged-in user: what pages use to reach the
// API and to render.
type call struct {
	s       *Server
	r       *http.Request
	User    *shipgate.User
	Session *shipgate.Session
	CSRF    string
}

// page wraps a handler: it needs a valid session (else it redirects to
// /login for a GET and refuses a POST), checks a POST's CSRF token, and
// renders a returned error as a page that says what went wrong.
func (s *Server) page(fn func(w http.ResponseWriter, r *http.Request, c *call) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.session(r)
		if err != nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.refuse(w, r, nil, err)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := c.checkCSRF(); err != nil {
				s.refuse(w, r, c, err)
				return
			}
		}
		if err := fn(w, r, c); err != nil {
			s.fail(w, r, c, err)
		}
	}
}

// session finds the caller's session from its cookie.
func (s *Server) session(r *http.Request) (*call, error) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return nil, shipgate.Errorf(shipgate.EUNAUTHORIZED, "not logged in: log in at /login")
	}
	u, sess, err := s.DB.AuthenticateSession(r.Context(), ck.Value)
	if err != nil {
		return nil, err
	}
	return &call{s: s, r: r, User: u, Session: sess, CSRF: csrfToken(ck.Value)}, nil
}

// csrfToken is the CSRF token of a session: derived from its secret, which
// only the cookie holds, so another site can neither read nor compute it.
func csrfToken(sessionSecret string) string {
	sum := sha256.Sum256([]byte("shipgate-csrf\x00" + sessionSecret))
	return hex.EncodeToString(sum[:])
}

// checkCSRF refuses a state-changing request without the session's CSRF
// token (form field csrf, or header X-CSRF-Token for the script's calls).
func (c *call) checkCSRF() error {
	if !sameSiteOrigin(c.r) {
		return shipgate.Errorf(shipgate.EFORBIDDEN, "the form was posted from another site (Origin %q)", c.r.Header.Get("Origin"))
	}
	got := c.r.Header.Get("X-CSRF-Token")
	if got == "" {
		if err := c.r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return err // fail says 413, with the limit
			}
			return shipgate.Errorf(shipgate.EINVALID, "the form cannot be read: %v", err)
		}
		got = c.r.PostForm.Get(csrfField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.CSRF)) != 1 {
		return shipgate.Errorf(shipgate.EFORBIDDEN, "the form's CSRF token is missing or wrong: reload the page and submit it again")
	}
	return nil
}

// refuse answers a refusal the UI made itself (no session, bad CSRF
// token), audited like the API's refusals.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, c *call, err error) {
	var u *shipgate.User
	if c != nil {
		u = c.User
	}
	if aerr := s.API.AuditRefusal(r, u, err); aerr != nil {
		s.Logger.Error("audit web UI refusal; counted to write later", "err", aerr)
	}
	s.fail(w, r, c, err)
}

// fail renders err as a page, with the status its code means.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = shipgate.Errorf(shipgate.ETOOLARGE, "the form is larger than the limit of %d bytes", mbe.Limit)
	}
	code := shipgate.ErrorCode(err)
	if code == shipgate.EINTERNAL {
		s.Logger.Error("web UI request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := statusOf(code)
	data := map[string]any{"Title": http.StatusText(status), "Code": code, "Message": shipgate.ErrorMessage(err), "Status": status}
	// A refused action on a release leads back to that release's page.
	if rest, ok := strings.CutPrefix(r.URL.Path, "/releases/"); ok && r.Method == http.MethodPost {
		id, _, _ := strings.Cut(rest, "/")
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
			data["Back"] = "/releases/" + id
		}
	}
	// A refused action on a flag leads back to the flag's page.
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/flags/"); ok && r.Method == http.MethodPost {
		if parts := strings.Split(rest, "/"); len(parts) == 4 {
			data["Back"], data["BackText"] = "/flags/"+strings.Join(parts[:3], "/"), "Back to the flag"
		}
	}
	s.render(w, r, c, status, "error", data)
}

func statusOf(code string) int {
	switch code {
	case shipgate.EINVALID:
		return http.StatusBadRequest
	case shipgate.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case shipgate.EFORBIDDEN:
		return http.StatusForbidden
	case shipgate.ENOTFOUND:
		return http.StatusNotFound
	case shipgate.ECONFLICT, shipgate.EFAILEDPRECONDITION:
		return http.StatusConflict
	case shipgate.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// API calls the API in process as the session's user: method and path of
// an /api/v1 route, an optional JSON body, and where to decode the JSON
// answer (nil: discard it; a *[]byte gets its bytes as written). A refusal or failure comes back as the API's
// error, code and message; the API has already audited a refusal.
func (c *call) API(method, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	// A page's path names things ("/flags/web/../.." sent as %2e%2e); a
	// name of "." or ".." would make the API path resolve elsewhere, which
	// the API's router answers with a redirect. No such thing exists.
	if u, err := url.Parse(path); err == nil && pathpkg.Clean(u.Path) != u.Path {
		return shipgate.Errorf(shipgate.ENOTFOUND, "%q names nothing", c.r.URL.EscapedPath())
	}
	ctx := httpapi.AsUser(c.r.Context(), c.User)
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return err
	}
	req.RemoteAddr = c.r.RemoteAddr
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shipgate-web-ui")
	if xff := c.r.Header.Get("X-Forwarded-For"); xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	c.s.API.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
			return fmt.Errorf("API %s %s answered %d", method, path, rec.Code)
		}
		return shipgate.Errorf(e.Error.Code, "%s", e.Error.Message)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte: // the answer's bytes as the API wrote them (a signed file)
		*o = append([]byte(nil), rec.Body.Bytes()...)
		return nil
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

// Can reports whether the session's user holds permission p (for showing
// controls; the API decides).
func (c *call) Can(p string) bool { return c.User.Can(shipgate.Permission(p)) }

// ctx is the request's context.
func (c *call) ctx() context.Context { return c.r.Context() }

// redirect answers a form post with a redirect to the page to show next
// (POST/redirect/GET).
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// sameSiteOrigin refuses a POST whose Origin names another site (a second
// line of defence beside the CSRF token and SameSite=Strict).
func sameSiteOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

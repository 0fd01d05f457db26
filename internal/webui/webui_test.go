package webui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
	"github.com/shipgate/shipgate/internal/webui"
)

var ctx = context.Background()

// fixture is a server with the API and the UI on one listener, as serve
// mounts them, and users admin, viewer, carol (deployer+approver), dave
// and erin (approvers).
type fixture struct {
	db     *sqlstore.DB
	api    *httpapi.Handler
	ui     *webui.Server
	srv    *httptest.Server
	tokens map[string]string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db := testutil.NewStore(t, "sqlite")
	box, _ := shipgate.NewSecretBox(make([]byte, shipgate.SecretKeySize))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rec := reconcile.NewReconciler(db, quiet)
	store, err := artifactstore.Open(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	sources := &artifactstore.Sources{Roots: []string{os.TempDir()}, Deny: []string{store.Dir()}}
	disp := &reconcile.Dispatcher{DB: db, Secrets: box, LeaseTTL: time.Minute, Work: rec.Changed, Reconciler: rec, Artifacts: store, ArtifactSources: sources}
	api := httpapi.NewHandler(&httpapi.Handler{DB: db, Reconciler: rec, Work: rec.Changed, Secrets: box, Dispatcher: disp,
		Artifacts: httpapi.ArtifactHasher{Roots: sources.Roots, Deny: sources.Deny, Store: store}, Logger: quiet})
	t.Cleanup(func() { api.FlushRefusals(ctx) })
	ui, err := webui.New(&webui.Server{API: api, DB: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, api: api, ui: ui, tokens: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			api.ServeHTTP(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	for name, roles := range map[string][]shipgate.Role{
		"admin": {shipgate.RoleAdmin}, "viewer": {shipgate.RoleViewer}, "carol": {shipgate.RoleDeployer, shipgate.RoleApprover},
		"dave": {shipgate.RoleApprover}, "erin": {shipgate.RoleApprover},
	} {
		testutil.MustUser(t, db, name, roles, "release-managers")
		secret := shipgate.NewTokenSecret()
		testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", name, "", secret); return err })
		f.tokens[name] = secret
	}
	return f
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see them.
type browser struct {
	t   testing.TB
	f   *fixture
	c   *http.Client
	jar *cookiejar.Jar
}

func (f *fixture) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, f: f, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.f.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.f.srv.URL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

var hiddenRe = regexp.MustCompile(`name="(nonce|csrf)" value="([^"]+)"`)

// field is the value of a hidden field (nonce, csrf) in a page.
func field(t testing.TB, page, name string) string {
	t.Helper()
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	t.Fatalf("no hidden field %s in page:\n%s", name, page)
	return ""
}

// login logs the browser in as user and returns the session's CSRF token.
func (b *browser) login(user string) string {
	b.t.Helper()
	_, page, _ := b.get("/login")
	code, _, h := b.post("/login", url.Values{"nonce": {field(b.t, page, "nonce")}, "token": {b.f.tokens[user]}})
	if code != http.StatusSeeOther {
		b.t.Fatalf("login as %s: %d", user, code)
	}
	if loc := h.Get("Location"); loc != "/releases" {
		b.t.Fatalf("login went to %q", loc)
	}
	_, page, _ = b.get("/releases")
	return field(b.t, page, "csrf")
}

func (f *fixture) lastEvent(t testing.TB) shipgate.AuditEvent {
	t.Helper()
	var ev []shipgate.AuditEvent
	err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		head, _, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		ev, err = tx.ListAudit(ctx, shipgate.AuditFilter{AfterSeq: head - 1, Limit: 1})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) == 0 {
		t.Fatal("no audit events")
	}
	return ev[0]
}

func TestLoginSessionCookieAndLogout(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	code, _, h := b.get("/releases")
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous /releases: %d %s", code, h.Get("Location"))
	}
	csrf := b.login("carol")
	u, _ := url.Parse(f.srv.URL)
	var sess *http.Cookie
	for _, c := range b.jar.Cookies(u) {
		if c.Name == webui.SessionCookie {
			sess = c
		}
	}
	if sess == nil {
		t.Fatal("no session cookie")
	}
	// The Set-Cookie attributes, as the server wrote them.
	_, page, _ := b.get("/login")
	resp, err := http.PostForm(f.srv.URL+"/login", url.Values{"nonce": {"x"}, "token": {f.tokens["carol"]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without its nonce cookie: %d, want 403", resp.StatusCode)
	}
	_ = page
	code, page, _ = b.get("/releases")
	if code != 200 || !strings.Contains(page, "Signed in as <strong>carol</strong>") {
		t.Fatalf("releases page: %d\n%s", code, page)
	}
	if ev := f.lastEvent(t); ev.Action != shipgate.ActionAccessDenied || ev.Subject != "ui" {
		t.Fatalf("the refused login is not audited: %+v", ev)
	}
	code, _, _ = b.post("/logout", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	if ev := f.lastEvent(t); ev.Action != shipgate.ActionSessionEnded || ev.Actor != "carol" {
		t.Fatalf("logout not audited: %+v", ev)
	}
	// The old cookie no longer works, even replayed.
	req, _ := http.NewRequest("GET", f.srv.URL+"/releases", nil)
	req.AddCookie(&http.Cookie{Name: webui.SessionCookie, Value: sess.Value})
	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a logged-out session still reads: %d", resp.StatusCode)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	_, page, _ := b.get("/login")
	resp, err := b.c.PostForm(f.srv.URL+"/login", url.Values{"nonce": {field(t, page, "nonce")}, "token": {f.tokens["viewer"]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var set string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, webui.SessionCookie+"=") {
			set = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("a plain-HTTP server's cookie is Secure: %q", set)
	}
}

func TestSessionEndsWhenTokenRevokedOrUserDisabled(t *testing.T) {
	f := newFixture(t)
	for _, how := range []string{"revoke", "disable"} {
		b := f.browser(t)
		user := map[string]string{"revoke": "dave", "disable": "erin"}[how]
		b.login(user)
		if code, _, _ := b.get("/releases"); code != 200 {
			t.Fatalf("%s: before: %d", how, code)
		}
		testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
			if how == "disable" {
				_, err := tx.DisableUser(ctx, "admin", user, "left")
				return err
			}
			toks, err := tx.ListTokens(ctx, user)
			if err != nil {
				return err
			}
			return tx.RevokeToken(ctx, "admin", toks[0].ID)
		})
		if code, _, h := b.get("/releases"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
			t.Fatalf("%s: the session still reads: %d", how, code)
		}
	}
}

func TestPostWithoutCSRFIsRefusedAndAudited(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	csrf := b.login("carol")
	for _, form := range []url.Values{{}, {"csrf": {"0" + csrf[1:]}}} {
		code, page, _ := b.post("/logout", form)
		if code != http.StatusForbidden || !strings.Contains(page, "CSRF") {
			t.Fatalf("logout without the CSRF token: %d\n%s", code, page)
		}
		if ev := f.lastEvent(t); ev.Action != shipgate.ActionAccessDenied && ev.Action != shipgate.ActionSessionStarted {
			t.Fatalf("last event %+v", ev)
		}
	}
	// Still logged in: the refused logout changed nothing.
	if code, _, _ := b.get("/releases"); code != 200 {
		t.Fatalf("after refused logouts: %d", code)
	}
}

func TestLoginRedirectStaysOnSite(t *testing.T) {
	f := newFixture(t)
	for next, want := range map[string]string{"/releases/5": "/releases/5", "//evil.example/x": "/releases", "https://evil.example": "/releases", "/\\evil": "/releases",
		// http.Redirect cleans the path: /x/../\evil would become /\evil,
		// which browsers read as //evil, another host.
		"/releases/../\\evil.example": "/releases", "/./\\evil.example": "/releases", "/releases/%5C": "/releases/%5C"} {
		b := f.browser(t)
		_, page, _ := b.get("/login?next=" + url.QueryEscape(next))
		code, _, h := b.post("/login", url.Values{"nonce": {field(t, page, "nonce")}, "token": {f.tokens["viewer"]}, "next": {next}})
		if code != http.StatusSeeOther || h.Get("Location") != want {
			t.Errorf("next %q: %d → %q, want %q", next, code, h.Get("Location"), want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	_, _, h := b.get("/login")
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
}

func TestFaviconIsNotALoginRedirect(t *testing.T) {
	f := newFixture(t)
	code, _, _ := f.browser(t).get("/favicon.ico")
	if code != http.StatusNoContent {
		t.Fatalf("/favicon.ico: %d, want 204", code)
	}
}

// TestSessionStaysEndedWhenUserEnabledAgain: disabling a user ends their
// sessions for good (security.md: a session lives until its user is
// disabled); enabling them again lets their tokens back in, not a browser
// session opened before, which may be on a lost laptop.
func TestSessionStaysEndedWhenUserEnabledAgain(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login("erin")
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		_, err := tx.DisableUser(ctx, "admin", "erin", "laptop lost")
		return err
	})
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { return tx.EnableUser(ctx, "admin", "erin") })
	if code, _, h := b.get("/releases"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("a session opened before the user was disabled reads again after enable: %d", code)
	}
	// The user logs in afresh with their token, which works again.
	b.login("erin")
}

// TestLoginsArePacedPerUser: every login writes session.started to the
// hash-chained audit log, which is never pruned; a viewer's token alone
// must not let them write thousands of events a second through /login.
// Past MaxLoginsPerMinute a login is refused (429) until the minute has
// passed; other users log in meanwhile.
func TestLoginsArePacedPerUser(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.ui.Now = func() time.Time { return now }
	for i := 0; i < webui.MaxLoginsPerMinute; i++ {
		f.browser(t).login("viewer")
	}
	before := f.lastEvent(t).Seq
	for i := 0; i < 20; i++ {
		b := f.browser(t)
		_, page, _ := b.get("/login")
		code, page, _ := b.post("/login", url.Values{"nonce": {field(t, page, "nonce")}, "token": {f.tokens["viewer"]}})
		if code != http.StatusTooManyRequests || !strings.Contains(page, "too many logins") {
			t.Fatalf("login %d within a minute: %d, want 429\n%s", webui.MaxLoginsPerMinute+1+i, code, page)
		}
	}
	// The refusals are audited like the API's: one event, counted.
	if ev := f.lastEvent(t); ev.Seq > before+1 || ev.Seq == before+1 && ev.Action != shipgate.ActionAccessDenied {
		t.Fatalf("refused logins wrote up to seq %d (from %d): %+v", ev.Seq, before, ev)
	}
	f.browser(t).login("dave")
	now = now.Add(time.Minute)
	f.browser(t).login("viewer")
}

func TestStaticServesFilesNotListings(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	for path, want := range map[string]int{"/static/": 404, "/static/app.css": 200} {
		if code, _, _ := b.get(path); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
}

func TestOversizedFormIs413(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	csrf := b.login("carol")
	code, page, _ := b.post("/logout", url.Values{"csrf": {csrf}, "pad": {strings.Repeat("x", webui.MaxFormBytes)}})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(page, "larger than the limit") {
		t.Fatalf("oversized form: %d\n%s", code, page)
	}
}

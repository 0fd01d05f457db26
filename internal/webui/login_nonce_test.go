package webui_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestLoginSurvivesASecondLoginPageLoad: a browser fetches /favicon.ico on
// its own while the login form is open; that request, redirected to
// /login, must not replace the login cookie the open form's nonce repeats
// (found by the Chromium tests: every login in a real browser was refused).
// Two login tabs open at once are the same case.
func TestLoginSurvivesASecondLoginPageLoad(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	_, page, _ := b.get("/login")
	nonce := field(t, page, "nonce")
	// Any page without a session redirects to /login; the browser follows.
	if code, _, h := b.get("/agents"); code != http.StatusSeeOther {
		t.Fatalf("/agents without a session: %d %s", code, h.Get("Location"))
	}
	b.get("/login?next=%2Fagents")
	code, _, h := b.post("/login", url.Values{"nonce": {nonce}, "token": {f.tokens["dave"]}})
	if code != http.StatusSeeOther || h.Get("Location") != "/releases" {
		t.Fatalf("login from the first form after a second /login load: %d %q, want 303 to /releases", code, h.Get("Location"))
	}
}

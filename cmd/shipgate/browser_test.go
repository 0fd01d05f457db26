package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTwoApproversSeeThePendingRelease: dave and erin log in
// through the form, each in a browser context of their own (two cookie
// jars, two sessions), and each sees carol's release waiting in the list.
// The session cookie is out of the page script's reach (HttpOnly).
func TestBrowserTwoApproversSeeThePendingRelease(t *testing.T) {
	w := newUIWorld(t)
	dave := w.as("dave")
	erin := w.as("erin")
	row := fmt.Sprintf(`a[href="%s"]`, w.releasePath())
	for _, p := range []*uiTab{dave, erin} {
		if loc := p.location(); loc != "/releases" {
			t.Fatalf("%s landed on %s after logging in, want /releases", p.name, loc)
		}
		if !p.has(row) {
			t.Fatalf("%s does not see release %d in the list:\n%s", p.name, w.release.ID, p.bodyText())
		}
		line := evalIn[string](p, fmt.Sprintf(`document.querySelector(%q).closest("tr").innerText`, row))
		for _, want := range []string{"shop", "production", "1.0", "pending approval", "carol"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s's row of release %d lacks %q: %q", p.name, w.release.ID, want, line)
			}
		}
		if evalIn[bool](p, `document.cookie.indexOf("shipgate_session") >= 0`) {
			t.Errorf("%s's page script can read the session cookie", p.name)
		}
	}
	// Two sessions, not one: after erin logged in, dave's tab is still dave's.
	if code := dave.open("/releases"); code != 200 {
		t.Fatalf("dave reloads the list: %d", code)
	}
	dave.waitText("header", "Signed in as dave")
	erin.waitText("header", "Signed in as erin")
	// The list filters by state, and the filter form reads without script.
	erin.run("filter by state", chromedp.SendKeys(chromedp.CSS(`form.filters input[name="state"]`), "succeeded"))
	if code := erin.navigate("submit the filter", chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`))); code != 200 {
		t.Fatalf("filter: %d", code)
	}
	erin.waitText("main", "No releases match.")
	if loc := erin.location(); !strings.Contains(loc, "state=succeeded") {
		t.Errorf("the filter is not in the URL: %s", loc)
	}
}

// TestBrowserPostWithoutCSRFIsRefused: a form whose CSRF field was taken
// out, and a POST crafted by a script on the page, are both refused with
// 403 and a page that says why in words; the session survives and the
// refusals are in the audit log under the user's name.
func TestBrowserPostWithoutCSRFIsRefused(t *testing.T) {
	w := newUIWorld(t)
	dave := w.as("dave")

	dave.run("remove the logout form's CSRF field", chromedp.Evaluate[chromedp.Void](
		`document.querySelector('form[action="/logout"] input[name="csrf"]').remove()`, chromedp.EvalAsValue))
	code := dave.navigate("log out without the CSRF field", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)))
	if code != http.StatusForbidden {
		t.Fatalf("a form post without its CSRF token answered %d, want 403\n%s", code, dave.bodyText())
	}
	dave.waitText("main", "CSRF token is missing or wrong")
	if !dave.has(`[role="alert"]`) {
		t.Error("the refusal is not announced (role=alert)")
	}

	// A script on the page posts with the session cookie but without the
	// token, as a cross-site forger would have to.
	dave.open("/releases")
	got := evalIn[string](dave, `fetch("/logout", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=forged", redirect: "manual", credentials: "same-origin"}).then(r => r.status + " " + r.statusText)`)
	if !strings.HasPrefix(got, "403") {
		t.Fatalf("a crafted POST with a forged token answered %q, want 403", got)
	}

	// Nothing changed: dave is still logged in.
	if code := dave.open("/releases"); code != 200 {
		t.Fatalf("after the refused posts /releases answered %d", code)
	}
	dave.waitText("header", "Signed in as dave")

	// The first refusal is written at once; repeats of the same key are
	// counted and written as one event when the refusal window ends.
	var events []struct{ Actor, Action, Subject string }
	w.s.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	denied := false
	for _, e := range events {
		denied = denied || (e.Action == "access.denied" && e.Actor == "dave" && e.Subject == "ui")
	}
	if !denied {
		t.Fatalf("the refused post is not audited as dave's: %+v", events)
	}
}

// TestBrowserLogoutAndWrongToken: a wrong token is refused on the login
// page in words, with no session; logging out ends dave's session (the
// list sends him back to the login page) and leaves erin's alone.
func TestBrowserLogoutAndWrongToken(t *testing.T) {
	w := newUIWorld(t)

	mallory := w.b.person("mallory")
	code := mallory.login("sgp_this-is-not-a-token")
	if code != http.StatusUnauthorized {
		t.Fatalf("a wrong token answered %d, want 401\n%s", code, mallory.bodyText())
	}
	mallory.waitText("main", "Not logged in:")
	if msg := mallory.text(`[role="alert"]`); len(strings.TrimSpace(strings.TrimPrefix(msg, "Not logged in:"))) == 0 {
		t.Fatalf("the refusal gives no reason: %q", msg)
	}
	if !mallory.has(`#token`) || !mallory.has(`label[for="token"]`) {
		t.Fatal("the login form with its label is not shown again after a wrong token")
	}
	mallory.open("/releases")
	if loc := mallory.location(); !strings.HasPrefix(loc, "/login") {
		t.Fatalf("after a wrong token /releases shows %s, want the login page", loc)
	}
	// An empty token is refused in words too (the field is required, so
	// the browser itself stops it: send it past the browser's check).
	mallory.run("drop the required check", chromedp.Evaluate[chromedp.Void](`document.getElementById("token").removeAttribute("required")`, chromedp.EvalAsValue))
	if code := mallory.navigate("submit an empty token", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`))); code != http.StatusBadRequest {
		t.Fatalf("an empty token answered %d, want 400", code)
	}
	mallory.waitText("main", "Enter an API token.")

	dave, erin := w.as("dave"), w.as("erin")
	if code := dave.navigate("log out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type="submit"]`))); code != 200 {
		t.Fatalf("logout landed on a page with status %d", code)
	}
	if loc := dave.location(); loc != "/login" {
		t.Fatalf("after logout dave is on %s, want /login", loc)
	}
	dave.open("/releases")
	if loc := dave.location(); !strings.HasPrefix(loc, "/login") {
		t.Fatalf("after logout /releases shows %s to dave, want the login page", loc)
	}
	dave.waitText("main", "Log in to shipgate")
	// The logout is audited as dave's.
	var events []struct{ Actor, Action string }
	w.s.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	ended := false
	for _, e := range events {
		ended = ended || (e.Actor == "dave" && e.Action == "session.ended")
	}
	if !ended {
		t.Errorf("dave's logout is not in the audit log: %+v", events)
	}
	// Erin's session is her own and goes on.
	if code := erin.open("/releases"); code != 200 {
		t.Fatalf("erin after dave's logout: %d", code)
	}
	erin.waitText("header", "Signed in as erin")
}

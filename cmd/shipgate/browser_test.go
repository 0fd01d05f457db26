package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shipgate/shipgate/internal/demo"
)

// TestBrowserTwoApproversSeeThePendingRelease: dave and erin log in
// through the form, each in a browser context of their own (two cookie
// jars, two sessions), and each sees carol's release waiting in the list.
// The session cookie is out of the page script's reach (HttpOnly).
func TestBrowserTwoApproversSeeThePendingRelease(t *testing.T) {
	w := newUIWorld(t)
	dave := w.as("dave")
	erin := w.as("erin")
	row := fmt.Sprintf(`#releases a[href="%s"]`, w.releasePath())
	waiting := fmt.Sprintf(`#awaiting a[href="%s"]`, w.releasePath())
	for _, p := range []*uiTab{dave, erin} {
		if loc := p.location(); loc != "/releases" {
			t.Fatalf("%s landed on %s after logging in, want /releases", p.name, loc)
		}
		if !p.has(row) {
			t.Fatalf("%s does not see release %d in the list:\n%s", p.name, w.release.ID, p.bodyText())
		}
		if !p.has(waiting) {
			t.Fatalf("%s does not see release %d among those waiting for their approval:\n%s", p.name, w.release.ID, p.bodyText())
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
	dave.screenshot("releases", "")
	// The list filters by state, and the filter form reads without script.
	erin.run("filter by state", chromedp.SetValue(chromedp.CSS(`form.filters select[name="state"]`), "succeeded"))
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

// The flows of the release page below are written against the page that
// is being built beside this harness (issue 13): a state header
// id="release-state", an approvals section id="approvals" with forms
// posting to /releases/{id}/approve and /reject (fields comment, digest,
// csrf), sections id="rollout" and id="timeline", and data-live updating
// sections by id over Server-Sent Events. Each flow first checks that the
// page is there (requireReleasePage) and fails with a clear message if it
// is not, in CI or not.
//
// They are not registered as tests yet, because the release page has not
// landed on this branch. To enable them, rename
// pendingTestBrowserReleasePage to TestBrowserReleasePage.
var releasePageFlows = []struct {
	name string
	run  func(t *testing.T)
}{
	{"two approvers approve and both pages change live", flowApproveLive},
	{"the creator sees why she cannot approve and is refused", flowCreatorRefused},
	{"a canary aborted on the rollout view", flowCanaryAbortedOnRolloutView},
}

func TestBrowserReleasePage(t *testing.T) {
	for _, f := range releasePageFlows {
		t.Run(f.name, f.run)
	}
}

// requireReleasePage fails the test unless the tab shows a release page
// with its state header: the flows need the page, and a flow that skipped
// would hide its absence.
func requireReleasePage(p *uiTab) {
	p.t.Helper()
	if !p.has("#release-state") {
		p.t.Fatalf(`%s's tab at %s has no element id="release-state": the release page is missing or changed; the release page flows (releasePageFlows) need it. The page shows:
%s`, p.name, p.location(), p.bodyText())
	}
}

// approveForm is the CSS selector of a release page's approve form.
func approveForm(id int64) string { return fmt.Sprintf(`form[action="/releases/%d/approve"]`, id) }

// approve writes a comment and submits the approve form, returning the
// status of the page the post lands on.
func (p *uiTab) approve(id int64, comment string) int {
	p.t.Helper()
	form := approveForm(id)
	p.run("write the approval's comment", chromedp.SendKeys(chromedp.CSS(form+` [name="comment"]`), comment))
	return p.navigate("approve", chromedp.Click(chromedp.CSS(form+` [type="submit"]`)))
}

// forcePost submits a form the tab builds itself — to path, with the
// session's CSRF token (taken from the logout form) and fields — as a
// person would by re-enabling a disabled button: the server, not the page,
// must refuse. It returns the status of the page that loads.
func (p *uiTab) forcePost(path string, fields map[string]string) int {
	p.t.Helper()
	js := fmt.Sprintf(`(function(){
var f = document.createElement("form"); f.method = "post"; f.action = %q;
var add = function(n, v){ var i = document.createElement("input"); i.type = "hidden"; i.name = n; i.value = v; f.appendChild(i); };
add("csrf", document.querySelector('form[action="/logout"] input[name="csrf"]').value);
var extra = %s; for (var k in extra) add(k, extra[k]);
var b = document.createElement("button"); b.type = "submit"; b.id = "shipgate-test-force"; f.appendChild(b);
document.body.appendChild(f); return true; })()`, path, jsObject(fields))
	evalIn[bool](p, js)
	return p.navigate("post "+path, chromedp.Click(chromedp.ID("shipgate-test-force")))
}

func jsObject(m map[string]string) string {
	var b strings.Builder
	b.WriteString("{")
	first := true
	for k, v := range m {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:%q", k, v)
	}
	b.WriteString("}")
	return b.String()
}

// flowApproveLive: dave and erin have the release page open; dave approves
// (the form carries the digest the page shows); erin's page shows his
// approval appear without a reload; erin approves, and both pages show
// the release leave pending approval live, to its end.
func flowApproveLive(t *testing.T) {
	w := newUIWorld(t)
	id := w.release.ID
	dave, erin := w.as("dave"), w.as("erin")
	for _, p := range []*uiTab{dave, erin} {
		code := p.open(w.releasePath())
		requireReleasePage(p)
		if code != 200 {
			t.Fatalf("%s opens the release page: %d", p.name, code)
		}
		p.waitText("#release-state", "pending approval")
		if got := evalIn[string](p, fmt.Sprintf(`document.querySelector(%q).value`, approveForm(id)+` [name="digest"]`)); got != w.release.Digest {
			t.Fatalf("%s's approve form is bound to digest %q, want the release's %q", p.name, got, w.release.Digest)
		}
	}
	erin.markPage()
	if code := dave.approve(id, "diff reviewed by dave"); code != 200 {
		t.Fatalf("dave's approval landed on status %d:\n%s", code, dave.bodyText())
	}
	dave.waitText("#approvals", "diff reviewed by dave")
	erin.waitText("#approvals", "dave")
	erin.waitText("#approvals", "diff reviewed by dave")
	if !erin.stillSamePage() {
		t.Fatal("erin's page reloaded to show dave's approval; it must arrive live")
	}
	erin.waitText("#release-state", "pending approval")

	dave.markPage()
	if code := erin.approve(id, "ship it"); code != 200 {
		t.Fatalf("erin's approval landed on status %d:\n%s", code, erin.bodyText())
	}
	erin.markPage()
	for _, p := range []*uiTab{dave, erin} {
		p.waitText("#release-state", "succeeded")
		p.waitText("#approvals", "ship it")
	}
	if !dave.stillSamePage() {
		t.Fatal("dave's page reloaded to show the state change; it must arrive live")
	}
	if got := w.s.show(id); got.State != "succeeded" || len(got.Approvals) != 2 {
		t.Fatalf("the server has release %d %s with %d approvals", id, got.State, len(got.Approvals))
	}
	dave.waitText("#timeline", "release.approved")
	dave.screenshot("release", "")
	dave.screenshot("timeline", "#timeline")
}

// flowCreatorRefused: carol created the release; her page says why she
// cannot approve it, and an approval she forces past the page is refused
// by the server, in words, and changes nothing. Vera, a viewer, sees the
// release but no control to act on it.
func flowCreatorRefused(t *testing.T) {
	w := newUIWorld(t)
	id := w.release.ID
	carol := w.as("carol")
	carol.open(w.releasePath())
	requireReleasePage(carol)
	carol.waitText("#approvals", "created")
	code := carol.forcePost(fmt.Sprintf("/releases/%d/approve", id), map[string]string{"digest": w.release.Digest, "comment": "my own"})
	if code != http.StatusForbidden {
		t.Fatalf("carol's own approval answered %d, want 403:\n%s", code, carol.bodyText())
	}
	carol.waitText("main", "cannot approve it")
	if got := w.s.show(id); got.State != "pending_approval" || len(got.Approvals) != 0 {
		t.Fatalf("after the refusal release %d is %s with %d approvals", id, got.State, len(got.Approvals))
	}

	vera := w.as("vera")
	vera.open(w.releasePath())
	requireReleasePage(vera)
	vera.waitText("#release-state", "pending approval")
	if vera.has(approveForm(id) + ` [type="submit"]:not([disabled])`) {
		t.Fatal("a viewer is offered an enabled Approve button")
	}
	if code := vera.forcePost(fmt.Sprintf("/releases/%d/approve", id), map[string]string{"digest": w.release.Digest}); code != http.StatusForbidden {
		t.Fatalf("a viewer's forced approval answered %d, want 403", code)
	}
}

// flowCanaryAbortedOnRolloutView: a canary of the demo app that answers
// half its requests with 500 is aborted by the sequential judge; the
// rollout view of its release page shows the abort and the judge's reason
// as it happens, without a reload.
func flowCanaryAbortedOnRolloutView(t *testing.T) {
	requireChromium(t)
	front := freeAddr(t)
	f := newCanaryFixtureWith(t, front, abortService(binary, front))
	s := f.s
	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	load := demo.StartLoad(f.front, 4, 10*time.Millisecond)
	defer load.End()

	b := startBrowser(t, s.direct)
	admin := b.person("admin")
	if code := admin.login(s.admin); code != 200 {
		t.Fatalf("admin logs in: %d", code)
	}
	v3 := f.release("3.0")
	admin.open(fmt.Sprintf("/releases/%d", v3))
	requireReleasePage(admin)
	admin.waitText("#rollout", "3.0")
	abortedAtOpen := strings.Contains(admin.text("#rollout"), "aborted")
	admin.markPage()
	admin.waitText("#rollout", "aborted")
	admin.waitText("#rollout", "disproportionate")
	if !abortedAtOpen && !admin.stillSamePage() {
		t.Fatal("the rollout view reloaded to show the abort; it must arrive live")
	}
	if p, _ := s.rollout(v3).phase(); p != "aborted" {
		t.Fatalf("the server has the rollout %s", p)
	}
	admin.screenshot("rollout", "#rollout")
}

// a11yProblems is run in the page: every visible form control has a label
// (a <label for>, a wrapping <label>, aria-label or aria-labelledby), every
// button and link says something, every image and chart has a text
// alternative, the page has a language and exactly one h1, and every state
// badge carries words, not only a colour.
const a11yProblems = `(() => {
  const out = [];
  const named = el => (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.closest("label");
  document.querySelectorAll("input, select, textarea").forEach(el => {
    if (el.type === "hidden") return;
    if (!named(el)) out.push("control without a label: " + el.outerHTML.slice(0, 120));
  });
  document.querySelectorAll("button, a[href]").forEach(el => {
    if (!(el.textContent.trim() || el.getAttribute("aria-label"))) out.push("control without words: " + el.outerHTML.slice(0, 120));
  });
  document.querySelectorAll("img").forEach(el => { if (!el.hasAttribute("alt")) out.push("image without alt: " + el.outerHTML.slice(0, 120)); });
  document.querySelectorAll("svg").forEach(el => {
    if (el.getAttribute("aria-hidden") === "true") return;
    if (!(el.querySelector("title") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby"))) out.push("chart without a text alternative: " + el.outerHTML.slice(0, 120));
  });
  document.querySelectorAll(".state").forEach(el => { if (!el.textContent.replace(/[^A-Za-z]/g, "")) out.push("state told without words: " + el.outerHTML); });
  if (!document.documentElement.lang) out.push("no lang on <html>");
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) out.push(h1 + " h1 elements");
  return out;
})()`

// TestBrowserPagesAreAccessible walks every kind of page as an admin (who
// sees every control) and checks each with a11yProblems in the real
// browser, and that the keyboard reaches the first control of the page.
func TestBrowserPagesAreAccessible(t *testing.T) {
	w := newUIWorld(t)
	admin := w.as("admin")
	for _, path := range []string{"/releases", w.releasePath(), w.releasePath() + "/rollout", w.releasePath() + "/logs",
		"/audit", "/audit/verify", "/services", "/services/shop", "/services/shop/revisions/1", "/agents",
		"/flags", "/flags/shop/production/new-checkout", "/insights", "/insights?show=failures&window=90d"} {
		if code := admin.open(path); code != 200 {
			t.Fatalf("%s: status %d\n%s", path, code, admin.bodyText())
		}
		if problems := evalIn[[]string](admin, a11yProblems); len(problems) > 0 {
			t.Errorf("%s:\n  %s", path, strings.Join(problems, "\n  "))
		}
	}
	// The Metrics page is reached from the navigation; its screenshot is
	// the one docs/ui.md shows.
	admin.open("/releases")
	admin.navigate("open the metrics page", chromedp.Click(chromedp.CSS(`header a[href="/insights"]`)))
	admin.waitText("h1", "Metrics")
	admin.waitText("#numbers", "Change failure rate")
	admin.screenshot("metrics", "main")
	// The skip link is the first stop of the keyboard, and it leads to the
	// page's main content.
	admin.open("/releases")
	admin.run("tab once", chromedp.KeyEvent("\t"))
	if got := evalIn[string](admin, `document.activeElement.getAttribute("href")`); got != "#main" {
		t.Errorf("the first Tab stop is %q, want the skip link to #main", got)
	}
}

// TestBrowserKillAFlag: carol (deployer) turns a flag off from its page:
// a reason, the confirmation page, then the flag's new state, the kill in
// its changes and in the audit log with her reason. vera (viewer), on the
// same flag's page, sees the kill arrive live; she sees the switch
// disabled with why, and her crafted post is refused.
func TestBrowserKillAFlag(t *testing.T) {
	w := newUIWorld(t)
	const flagPath = "/flags/shop/production/new-checkout"
	// vera watches the flag's page while carol kills it.
	vera := w.as("vera")
	vera.open(flagPath)
	vera.waitText("#live-status", "Live:")
	vera.markPage()
	carol := w.as("carol")
	carol.navigate("open the flags page", chromedp.Click(chromedp.CSS(`header a[href="/flags"]`)))
	carol.waitText("main", "shop in production")
	carol.waitText("main", "rollout 25% on, 75% off")
	// The list is live (its rows may be replaced while we look), so follow
	// the link by its address rather than clicking a node that may be gone.
	carol.run("find the flag's link", chromedp.WaitVisible(chromedp.CSS(`a[href="`+flagPath+`"]`)))
	carol.open(flagPath)
	carol.waitText("h1", "new-checkout")
	carol.waitText("main", "if country in [de, fr] → on")

	const reason = "checkout errors up since 14:02"
	carol.run("write the reason", chromedp.SendKeys(chromedp.ID("kill-reason"), reason))
	if code := carol.navigate("press the kill switch", chromedp.Click(chromedp.CSS(`form.kill button[type="submit"]`))); code != 200 {
		t.Fatalf("the kill switch answered %d\n%s", code, carol.bodyText())
	}
	carol.waitText("h1", "Turn off new-checkout?")
	if got := evalIn[string](carol, `document.getElementById("kill-reason").value`); got != reason {
		t.Fatalf("the confirmation page lost the reason: %q", got)
	}
	if killedBy(w, "carol") {
		t.Fatal("the flag was killed before the kill was confirmed")
	}
	if code := carol.navigate("confirm", chromedp.Click(chromedp.CSS(`form.kill button[type="submit"]`))); code != 200 {
		t.Fatalf("confirming the kill answered %d\n%s", code, carol.bodyText())
	}
	if loc := carol.location(); loc != flagPath+"?done=killed" {
		t.Fatalf("after the kill the tab shows %s", loc)
	}
	carol.waitText("#flag-state", "killed: serves off")
	carol.waitText("[role=status]", "The flag is off")
	carol.waitText("#flag-changes", reason)
	carol.screenshot("flags", "main")

	if !killedBy(w, "carol") {
		t.Fatal("the kill is not in the audit log as carol's")
	}

	// vera's page follows without a reload; she has no working control.
	vera.waitText("#flag-state", "killed: serves off")
	if !vera.stillSamePage() {
		t.Error("vera's flag page reloaded to show the kill; it should update live")
	}
	if !vera.has(`#kill-h`) || vera.has(`form[action="`+flagPath+`/enable"]`) {
		t.Error("a viewer is offered a working control")
	}
	if code := vera.forcePost(flagPath+"/kill", map[string]string{"reason": "x", "confirm": "1"}); code != 403 {
		t.Fatalf("a viewer's crafted kill answered %d, want 403", code)
	}
}

// killedBy says whether the audit log has user's kill of the world's flag.
func killedBy(w *uiWorld, user string) bool {
	var events []struct{ Actor, Action, Subject string }
	w.s.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	for _, e := range events {
		if e.Action == "flag.killed" && e.Actor == user && e.Subject == "flag/shop/production/new-checkout" {
			return true
		}
	}
	return false
}

package webui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// flagService has two flags in staging and production; production needs
// one approval from release-managers for flag changes (kill exempt).
const flagService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  flags:
    - key: new-checkout
      type: boolean
      description: The one-page checkout
      variants: { "on": true, "off": false }
      default_variant: "off"
      safe_variant: "off"
      rules:
        - when:
            - { attribute: country, op: in, value: [de, fr] }
            - { attribute: appVersion, op: semver_ge, value: "2.1.0" }
          variant: "on"
      rollout:
        split:
          - { variant: "on", percent: 10 }
          - { variant: "off", percent: 90 }
    - key: banner
      type: string
      variants: { plain: "hi", fancy: "hello!" }
      default_variant: plain
      safe_variant: plain
  environments:
    - name: staging
    - name: production
      flag_approvals:
        required: 1
        from_groups: [release-managers]
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`

const checkoutPath = "/flags/web/production/new-checkout"

func flagFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	testutil.MustApply(t, f.db, flagService)
	return f
}

// liveFlag reads a flag from the store, to check what a page did.
func (f *fixture) liveFlag(t *testing.T, env, key string) *shipgate.FlagState {
	t.Helper()
	var fs *shipgate.FlagState
	testutil.View(t, f.db, func(tx *sqlstore.Tx) error {
		var err error
		fs, err = tx.FindFlag(ctx, "web", env, key)
		return err
	})
	return fs
}

func TestFlagsPageListsEveryFlagWithItsState(t *testing.T) {
	f := flagFixture(t)
	b := f.browser(t)
	b.login("viewer")
	code, page, _ := b.get("/flags")
	if code != 200 {
		t.Fatalf("/flags: %d\n%s", code, page)
	}
	mustContain(t, page, `<a href="/flags">Flags</a>`, "web in production", "web in staging",
		`href="/flags/web/production/new-checkout"`, "rollout 10% on, 90% off", "boolean", "<code>off</code>",
		"if country in [de, fr] and appVersion ≥ 2.1.0 (version) → on", "file by", "everyone gets plain")
	// The filter narrows to one environment.
	_, page, _ = b.get("/flags?environment=staging")
	if strings.Contains(page, "web in production") || !strings.Contains(page, "web in staging") {
		t.Errorf("filtered by staging, the page shows:\n%s", page)
	}
	_, page, _ = b.get("/flags?service=nope")
	mustContain(t, page, "No flags match.")
}

func TestFlagPageShowsDefinitionTargetingAndChanges(t *testing.T) {
	f := flagFixture(t)
	b := f.browser(t)
	b.login("viewer")
	code, page, _ := b.get(checkoutPath)
	if code != 200 {
		t.Fatalf("%s: %d\n%s", checkoutPath, code, page)
	}
	mustContain(t, page, "<h1>Flag <code>new-checkout</code>", "The one-page checkout", "rollout 10% on, 90% off",
		"if country in [de, fr] and appVersion ≥ 2.1.0 (version) → on", "Rollout split: 10% on, 90% off",
		"<code>true</code>", "default, safe", "Recent changes", "created: ", "Nothing waits.")
	if strings.Count(page, "<h1") != 1 {
		t.Error("the flag page has more than one h1")
	}
	// A viewer sees the kill switch but cannot use it, and is told why.
	mustContain(t, page, `disabled aria-describedby="kill-why"`, "needs the flag.kill permission")
	if strings.Contains(page, `action="`+checkoutPath+`/kill"`) {
		t.Error("a viewer is offered a working kill form")
	}
	if code, _, _ := b.get("/flags/web/production/nope"); code != http.StatusNotFound {
		t.Errorf("an unknown flag: %d, want 404", code)
	}
}

// TestKillSwitchNeedsReasonAndConfirmation: the kill switch is a reason,
// then a confirmation page, then the API's kill, audited with the reason;
// the flag page shows the new state. No step skips another.
func TestKillSwitchNeedsReasonAndConfirmation(t *testing.T) {
	f := flagFixture(t)
	b := f.browser(t)
	csrf := b.login("carol")
	_, page, _ := b.get(checkoutPath)
	mustContain(t, page, `action="`+checkoutPath+`/kill"`, `<label for="kill-reason">Reason</label>`, "Turn off new-checkout…")

	// No reason: refused, nothing changed.
	code, page, _ := b.post(checkoutPath+"/kill", url.Values{"csrf": {csrf}, "reason": {"  "}, "confirm": {"1"}})
	if code != http.StatusBadRequest || !strings.Contains(page, "say why in the reason field") {
		t.Fatalf("kill without a reason: %d\n%s", code, page)
	}
	// No CSRF token: refused, nothing changed.
	if code, _, _ := b.post(checkoutPath+"/kill", url.Values{"reason": {"errors"}, "confirm": {"1"}}); code != http.StatusForbidden {
		t.Fatalf("kill without the CSRF token: %d, want 403", code)
	}
	// The first post asks to confirm, and changes nothing.
	code, page, _ = b.post(checkoutPath+"/kill", url.Values{"csrf": {csrf}, "reason": {"checkout errors up since 14:02"}})
	if code != 200 {
		t.Fatalf("kill, first step: %d\n%s", code, page)
	}
	mustContain(t, page, "<h1 id=\"confirm-h\">Turn off new-checkout?</h1>", `name="confirm" value="1"`, "checkout errors up since 14:02",
		"new-checkout: rollout 10% on, 90% off → serves off", "Yes, turn off new-checkout", "No, go back")
	if fs := f.liveFlag(t, "production", "new-checkout"); fs.Flag.Disabled {
		t.Fatal("the flag was killed before the confirmation")
	}
	// Confirmed: killed at once (no approval, although production needs
	// one for other changes), audited with the reason.
	code, _, h := b.post(checkoutPath+"/kill", url.Values{"csrf": {csrf}, "reason": {"checkout errors up since 14:02"}, "confirm": {"1"}})
	if code != http.StatusSeeOther || h.Get("Location") != checkoutPath+"?done=killed" {
		t.Fatalf("kill, confirmed: %d → %q", code, h.Get("Location"))
	}
	if fs := f.liveFlag(t, "production", "new-checkout"); !fs.Flag.Disabled {
		t.Fatal("the confirmed kill did not kill the flag")
	}
	ev := f.findEvent(t, shipgate.ActionFlagKilled, "carol")
	if ev == nil {
		t.Fatal("the kill is not audited")
	}
	if ev.Subject != shipgate.FlagSubject("web", "production", "new-checkout") || !strings.Contains(string(ev.Details), "checkout errors up since 14:02") {
		t.Fatalf("the kill's audit event: %+v %s", ev, ev.Details)
	}
	_, page, _ = b.get(checkoutPath + "?done=killed")
	mustContain(t, page, "killed: serves off", "The flag is off", "Turn back on", "checkout errors up since 14:02", "state: on → off (serves off)")
	// Turning it back on in production waits for an approval.
	code, _, h = b.post(checkoutPath+"/enable", url.Values{"csrf": {csrf}, "reason": {"fixed in 2.1.1"}})
	if code != http.StatusSeeOther || h.Get("Location") != checkoutPath+"?done=pending" {
		t.Fatalf("enable: %d → %q", code, h.Get("Location"))
	}
	_, page, _ = b.get(checkoutPath + "?done=pending")
	mustContain(t, page, "waits for approval", "asked by carol", "fixed in 2.1.1", "cannot approve it: flag changes are never self-approved", "Withdraw change ")
	if fs := f.liveFlag(t, "production", "new-checkout"); !fs.Flag.Disabled {
		t.Fatal("the enable applied without its approval")
	}
}

// TestViewerCannotKillAFlag: a viewer's crafted kill post (with a valid
// CSRF token and confirm=1) is refused by the API with 403, audited, and
// changes nothing.
func TestViewerCannotKillAFlag(t *testing.T) {
	f := flagFixture(t)
	b := f.browser(t)
	csrf := b.login("viewer")
	code, page, _ := b.post(checkoutPath+"/kill", url.Values{"csrf": {csrf}, "reason": {"just looking"}, "confirm": {"1"}})
	if code != http.StatusForbidden || !strings.Contains(page, "forbidden") {
		t.Fatalf("a viewer's kill: %d, want 403\n%s", code, page)
	}
	mustContain(t, page, `<a href="`+checkoutPath+`">Back to the flag</a>`)
	if fs := f.liveFlag(t, "production", "new-checkout"); fs.Flag.Disabled {
		t.Fatal("a viewer killed the flag")
	}
	if ev := f.lastEvent(t); ev.Action != shipgate.ActionAccessDenied || ev.Actor != "viewer" {
		t.Fatalf("the refusal is not audited: %+v", ev)
	}
	code, _, _ = b.post(checkoutPath+"/enable", url.Values{"csrf": {csrf}, "reason": {"x"}})
	if code != http.StatusForbidden {
		t.Fatalf("a viewer's enable: %d, want 403", code)
	}
}

// TestPendingFlagChangeApprovedFromThePage: dave (approver) sees carol's
// pending enable with working Approve / Reject; approving applies it.
func TestPendingFlagChangeApprovedFromThePage(t *testing.T) {
	f := flagFixture(t)
	carol := f.browser(t)
	csrf := carol.login("carol")
	carol.post(checkoutPath+"/kill", url.Values{"csrf": {csrf}, "reason": {"incident 7"}, "confirm": {"1"}})
	carol.post(checkoutPath+"/enable", url.Values{"csrf": {csrf}, "reason": {"incident 7 over"}})

	viewer := f.browser(t)
	viewer.login("viewer")
	_, page, _ := viewer.get(checkoutPath)
	mustContain(t, page, `may not approve flag changes: it needs the approver role`, `disabled aria-describedby="why-approve-`)
	if strings.Contains(page, `action="/flag-changes/`) {
		t.Error("a viewer is offered a working approve or reject form")
	}

	dave := f.browser(t)
	dcsrf := dave.login("dave")
	_, page, _ = dave.get("/flags?environment=production")
	mustContain(t, page, "killed: serves off", "1 waiting")
	_, page, _ = dave.get(checkoutPath)
	m := regexp.MustCompile(`id="change-([0-9]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no pending change on the page:\n%s", page)
	}
	id := m[1]
	mustContain(t, page, "Approve change "+id, "Reject change "+id, "incident 7 over", "It needs 1 approval (of 1) from members of release-managers.")
	code, _, h := dave.post("/flag-changes/"+id+"/approve", url.Values{"csrf": {dcsrf}, "comment": {"ok"},
		"service": {"web"}, "environment": {"production"}, "key": {"new-checkout"}})
	if code != http.StatusSeeOther || h.Get("Location") != checkoutPath+"?done=approved" {
		t.Fatalf("approve: %d → %q", code, h.Get("Location"))
	}
	if fs := f.liveFlag(t, "production", "new-checkout"); fs.Flag.Disabled {
		t.Fatal("the approved enable did not apply")
	}
	_, page, _ = dave.get(checkoutPath + "?done=approved")
	mustContain(t, page, "Your approval is recorded.", "Nothing waits.", "rollout 10% on, 90% off")
}

// releaseWithFlags creates a release of web in production that declares
// flags. Until release create takes --flag (another part of issue 15),
// the test writes them into the stored release's frozen content, with
// the digest that content has.
func releaseWithFlags(t *testing.T, f *fixture, flags ...string) int64 {
	t.Helper()
	var rel *shipgate.Release
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		var err error
		rel, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "production", Version: "2.0",
			Artifact: testutil.Artifact("2.0"), Source: shipgate.Source{Ref: "main"}, CreatedBy: "carol"})
		return err
	})
	rel.Flags = flags
	content, err := json.Marshal(rel.ReleaseContent)
	if err != nil {
		t.Fatal(err)
	}
	// The store refuses to change a release's content (a trigger): lift
	// it for this one write on the test's own throwaway database.
	raw := testutil.RawDB(t, f.db)
	for _, q := range []string{`DROP TRIGGER releases_immutable`, `UPDATE releases SET content = ?, digest = ? WHERE id = ?`,
		`CREATE TRIGGER releases_immutable BEFORE UPDATE OF service, environment, version, kind, artifact_sha256, content, digest, created_by, created_at ON releases
BEGIN SELECT RAISE(ABORT, 'release content is immutable'); END`} {
		var args []any
		if strings.HasPrefix(q, "UPDATE") {
			args = []any{string(content), rel.ReleaseContent.Digest(), rel.ID}
		}
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	return rel.ID
}

// TestReleasePageTurnsOffTheReleasesFlags: the release page lists the
// flags the release declares with their state now, and turns them all off
// with a reason and a confirmation; a viewer gets no working control.
func TestReleasePageTurnsOffTheReleasesFlags(t *testing.T) {
	f := flagFixture(t)
	id := releaseWithFlags(t, f, "new-checkout", "gone")
	path := fmt.Sprintf("/releases/%d", id)

	viewer := f.browser(t)
	viewer.login("viewer")
	_, page, _ := viewer.get(path)
	mustContain(t, page, "Flags this release introduces", `href="/flags/web/production/new-checkout"`, "rollout 10% on, 90% off",
		"not a flag of production now", `disabled aria-describedby="relflags-why"`)
	if strings.Contains(page, `action="`+path+`/flags/kill"`) {
		t.Error("a viewer is offered a working form to turn the release's flags off")
	}

	carol := f.browser(t)
	csrf := carol.login("carol")
	_, page, _ = carol.get(path)
	mustContain(t, page, `action="`+path+`/flags/kill"`, "Turn off this release's flags…")
	code, page, _ := carol.post(path+"/flags/kill", url.Values{"csrf": {csrf}, "reason": {"2.0 breaks checkout"}})
	if code != 200 {
		t.Fatalf("first step: %d\n%s", code, page)
	}
	mustContain(t, page, fmt.Sprintf("Turn off release %d&#39;s flags?", id), "new-checkout: rollout 10% on, 90% off → serves off",
		"gone: not a flag of production now", "Yes, turn off 2 flags")
	if f.liveFlag(t, "production", "new-checkout").Flag.Disabled {
		t.Fatal("killed before the confirmation")
	}
	code, _, h := carol.post(path+"/flags/kill", url.Values{"csrf": {csrf}, "reason": {"2.0 breaks checkout"}, "confirm": {"1"}})
	if code != http.StatusSeeOther || h.Get("Location") != path+"?flags=killed#flags-h" {
		t.Fatalf("confirmed: %d → %q", code, h.Get("Location"))
	}
	if !f.liveFlag(t, "production", "new-checkout").Flag.Disabled {
		t.Fatal("the release's flag is still on")
	}
	_, page, _ = carol.get(path + "?flags=killed")
	mustContain(t, page, "The release&#39;s flags are off", fmt.Sprintf("killed with release #%d&#39;s flags: serves off", id), "Every flag of this release is off already.")
	if ev := f.findEvent(t, shipgate.ActionFlagKilled, "carol"); ev == nil || !strings.Contains(string(ev.Details), "2.0 breaks checkout") {
		t.Fatalf("the kill is not audited with its reason: %+v", ev)
	}
}

func TestRejectAPendingFlagChangeFromThePage(t *testing.T) {
	f := flagFixture(t)
	carol := f.browser(t)
	csrf := carol.login("carol")
	carol.post(checkoutPath+"/kill", url.Values{"csrf": {csrf}, "reason": {"incident 8"}, "confirm": {"1"}})
	carol.post(checkoutPath+"/enable", url.Values{"csrf": {csrf}, "reason": {"too early"}})
	// carol asked: her own decision is refused by the API, on the page.
	_, page, _ := carol.get(checkoutPath)
	id := regexp.MustCompile(`id="change-([0-9]+)"`).FindStringSubmatch(page)[1]
	code, page, _ := carol.post("/flag-changes/"+id+"/approve", url.Values{"csrf": {csrf}, "service": {"web"}, "environment": {"production"}, "key": {"new-checkout"}})
	if code != http.StatusForbidden && code != http.StatusConflict {
		t.Fatalf("carol approves her own change: %d\n%s", code, page)
	}
	erin := f.browser(t)
	ecsrf := erin.login("erin")
	code, _, h := erin.post("/flag-changes/"+id+"/reject", url.Values{"csrf": {ecsrf}, "comment": {"wait for the fix"},
		"service": {"web"}, "environment": {"production"}, "key": {"new-checkout"}})
	if code != http.StatusSeeOther || h.Get("Location") != checkoutPath+"?done=rejected" {
		t.Fatalf("reject: %d → %q", code, h.Get("Location"))
	}
	_, page, _ = erin.get(checkoutPath + "?done=rejected")
	mustContain(t, page, "The change is rejected.", "Nothing waits.", "killed: serves off", "(rejected)", "decided by erin")
	if ev := f.findEvent(t, shipgate.ActionFlagChangeRejected, "erin"); ev == nil {
		t.Fatal("the rejection is not audited")
	}
	if code, _, _ := erin.post("/flag-changes/"+id+"/nonsense", url.Values{"csrf": {ecsrf}}); code != http.StatusNotFound {
		t.Fatalf("an unknown decision: %d, want 404", code)
	}
}

// TestFlagPagesWeight: the flags list with 100 flags in two environments
// and a flag page with its 50 newest changes each weigh at most
// maxPageBytes with the stylesheet and script (as TestPageWeight).
func TestFlagPagesWeight(t *testing.T) {
	f := newFixture(t)
	var y strings.Builder
	y.WriteString("apiVersion: shipgate/v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  flags:\n")
	for i := range 100 {
		fmt.Fprintf(&y, `    - key: flag-%03d
      type: string
      description: A flag with a description of ordinary length, as people write them
      variants: { plain: "hi", fancy: "hello!" }
      default_variant: plain
      safe_variant: plain
      rules:
        - when: [{ attribute: country, op: in, value: [de, fr, it, es] }, { attribute: appVersion, op: semver_ge, value: "2.1.0" }]
          variant: fancy
`, i)
	}
	y.WriteString("  environments:\n    - name: staging\n    - name: production\n  pipeline:\n    jobs:\n      - name: deploy\n        steps:\n          - run: echo deploy\n")
	testutil.MustApply(t, f.db, y.String())
	c := f.client("carol")
	for i := range 30 {
		if _, err := c.KillFlag(ctx, "web", "staging", "flag-000", fmt.Sprintf("incident %d: the fancy banner overlaps the cart button on small screens", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ChangeFlag(ctx, "web", "staging", "flag-000", client.FlagChangeRequest{Op: shipgate.FlagOpEnable, Reason: "fixed, turning it back on"}); err != nil {
			t.Fatal(err)
		}
	}
	ck := sessionCookie(t, f, "dave")
	assets := 0
	for _, p := range []string{"/static/app.css", "/static/app.js"} {
		assets += render(f, ck, p).Body.Len()
	}
	for _, path := range []string{"/flags", "/flags/web/staging/flag-000"} {
		rec := render(f, ck, path)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		if total := rec.Body.Len() + assets; total > maxPageBytes {
			t.Errorf("GET %s weighs %d bytes (HTML %d + assets %d), over %d", path, total, rec.Body.Len(), assets, maxPageBytes)
		} else {
			t.Logf("GET %s: HTML %d bytes + assets %d = %d (limit %d)", path, rec.Body.Len(), assets, total, maxPageBytes)
		}
	}
}

// TestFlagPagesAreLive: a viewer's open flag page and flags list follow
// a kill someone else makes through the API, without a reload.
func TestFlagPagesAreLive(t *testing.T) {
	f := flagFixture(t)
	b := f.browser(t)
	b.login("viewer")
	_, page, _ := b.get(checkoutPath)
	mustContain(t, page, `data-live="`+checkoutPath+`/live"`, `id="flag-body"`)
	_, page, _ = b.get("/flags?environment=production")
	mustContain(t, page, `data-live="/flags/live?environment=production&amp;service="`, `id="flags-list"`)

	one := b.live(checkoutPath + "/live")
	list := b.live("/flags/live?environment=production")
	one.waitFor(t, "the flag as it is", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, `"id":"flag-body"`) && strings.Contains(data, "rollout 10% on")
	})
	list.waitFor(t, "the list as it is", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, `"id":"flags-list"`) && strings.Contains(data, "rollout 10% on")
	})
	if _, err := f.client("carol").KillFlag(ctx, "web", "production", "new-checkout", "from the CLI"); err != nil {
		t.Fatal(err)
	}
	one.waitFor(t, "the killed flag", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, "killed: serves off") && strings.Contains(data, "from the CLI")
	})
	list.waitFor(t, "the killed flag in the list", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, "killed: serves off")
	})
	// A live stream of a flag that does not exist is an error page, not a stream.
	if code, _, _ := b.get("/flags/web/production/nope/live"); code != http.StatusNotFound {
		t.Fatalf("live stream of an unknown flag: %d, want 404", code)
	}
}

// TestFlagPathDotSegments: "." and ".." as a flag page's names (sent as
// %2e%2e, which no router cleans away) are "not found", not a server
// error, for the page and for its kill switch alike.
func TestFlagPathDotSegments(t *testing.T) {
	f := flagFixture(t)
	b := f.browser(t)
	csrf := b.login("carol")
	for _, p := range []string{"/flags/%2e%2e/%2e%2e/users", "/flags/web/%2e/new-checkout", "/flags/web/production/%2e%2e"} {
		if code, page, _ := b.get(p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404\n%s", p, code, page)
		}
		if code, page, _ := b.post(p+"/kill", url.Values{"csrf": {csrf}, "reason": {"x"}, "confirm": {"1"}}); code != http.StatusNotFound {
			t.Errorf("POST %s/kill: %d, want 404\n%s", p, code, page)
		}
	}
	if fs := f.liveFlag(t, "production", "new-checkout"); fs.Flag.Disabled {
		t.Fatal("a dot-segment kill killed a flag")
	}
}

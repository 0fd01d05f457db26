package webui_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// addUser adds a user with roles and groups, and a token to log in with.
func (f *fixture) addUser(t *testing.T, name string, roles []shipgate.Role, groups ...string) {
	t.Helper()
	testutil.MustUser(t, f.db, name, roles, groups...)
	secret := shipgate.NewTokenSecret()
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", name, "", secret); return err })
	f.tokens[name] = secret
}

// count is how many audit events of action actor wrote.
func (f *fixture) count(t *testing.T, action, actor string) int {
	t.Helper()
	var ev []shipgate.AuditEvent
	err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		ev, err = tx.ListAudit(ctx, shipgate.AuditFilter{ActionPrefix: action, Actor: actor, Limit: 1000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ev {
		if e.Action == action {
			n++
		}
	}
	return n
}

const ticketPolicy = `package shipgate.ticket

deny contains msg if {
	input.point == "create"
	not input.release.inputs.ticket
	msg := "a release to prod needs a ticket input (CHG-…)"
}

warn contains msg if {
	input.point == "create"
	msg := "remember the change window"
}
`

const holdPolicy = `package shipgate.hold

deny contains msg if {
	input.point == "start"
	msg := "deploys to dev are paused for the migration"
}
`

const policedService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  inputs:
    - {name: ticket}
  environments:
    - name: prod
      approvals: {required: 1}
      policies: [ticket]
    - name: dev
      policies: [hold]
  pipeline:
    jobs:
      - name: deploy
        runs_on: {role: nobody}
        steps: [{run: "true"}]
`

// A create denied by a policy is recorded and shown with its message,
// and its replay page reproduces it byte for byte with the input shown;
// an allowed release lists its decisions with their warnings and a
// replay link; a policy hold at start is said in the state header.
func TestPolicyDecisionsShownAndReplayed(t *testing.T) {
	f := newFixture(t)
	admin, carol := f.client("admin"), f.client("carol")
	for _, p := range []client.PolicyFile{{Filename: "ticket.rego", Source: ticketPolicy}, {Filename: "hold.rego", Source: holdPolicy}} {
		if _, err := admin.ApplyPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Apply(ctx, "web.yaml", []byte(policedService)); err != nil {
		t.Fatal(err)
	}
	_, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "1.0", Artifact: artifact(t, "one")})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "needs a ticket input") {
		t.Fatalf("create without a ticket: %v", err)
	}
	denied, err := admin.PolicyDecisions(ctx, shipgate.PolicyDecisionFilter{Point: "create", Result: "deny"})
	if err != nil || len(denied) != 1 {
		t.Fatalf("denied decisions: %+v %v", denied, err)
	}
	b := f.browser(t)
	b.login("viewer")
	code, page, _ := b.get("/policy-decisions?result=deny")
	if code != 200 {
		t.Fatalf("decisions page: %d\n%s", code, page)
	}
	mustContain(t, page, "✖ deny", "deny: ticket: a release to prod needs a ticket input (CHG-…)", "refused at create: never created",
		fmt.Sprintf(`<a href="/policy-decisions/%d">Replay decision %d</a>`, denied[0].ID, denied[0].ID), `<label for="f-point">Point</label>`)
	code, page, _ = b.get(fmt.Sprintf("/policy-decisions/%d", denied[0].ID))
	if code != 200 {
		t.Fatalf("replay page: %d\n%s", code, page)
	}
	mustContain(t, page, "✓ Reproduced byte for byte", "a release to prod needs a ticket input", denied[0].BundleDigest, denied[0].InputDigest,
		"the create was refused, so the release never existed",
		// the input, pretty-printed
		"\n  &#34;point&#34;: &#34;create&#34;,", "&#34;actor&#34;: &#34;carol&#34;")

	v, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "1.0", Artifact: artifact(t, "one"), Inputs: map[string]string{"ticket": "CHG-1"}})
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := admin.PolicyDecisions(ctx, shipgate.PolicyDecisionFilter{ReleaseID: v.ID})
	if err != nil || len(allowed) == 0 {
		t.Fatalf("decisions of release %d: %+v %v", v.ID, allowed, err)
	}
	_, page, _ = b.get(fmt.Sprintf("/releases/%d", v.ID))
	mustContain(t, page, `id="policy-decisions"`, "<td>create</td>", "✓ allow", "warn: ticket: remember the change window", "(ticket)",
		fmt.Sprintf(`href="/policy-decisions/%d"`, allowed[0].ID), allowed[0].BundleDigest[:len("sha256:")+16])
	_, page, _ = b.get(fmt.Sprintf("/policy-decisions/%d", allowed[0].ID))
	mustContain(t, page, "✓ Reproduced byte for byte", fmt.Sprintf(`<a href="/releases/%d">release %d</a>`, v.ID, v.ID), "&#34;ticket&#34;: &#34;CHG-1&#34;")
	if code, _, _ := b.get("/policy-decisions/99999"); code != 404 {
		t.Errorf("a missing decision: %d", code)
	}
	if code, _, _ := b.get("/policy-decisions?after=x"); code != 400 {
		t.Errorf("a bad filter: %d", code)
	}

	// A policy hold at start: the release waits in queued, and its page says why.
	held, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "dev", Version: "1.0", Artifact: artifact(t, "one")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.api.Reconciler.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	_, page, _ = b.get(fmt.Sprintf("/releases/%d", held.ID))
	mustContain(t, page, "queued</span> — held in queued by policy (decision", "deploys to dev are paused for the migration", "<td>start</td>", "✖ deny")
}

const governedWeb = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  owner: web-team
  runbook: https://wiki.example.com/web/runbook
  environments:
    - name: prod
      approvals: {required: 1}
      checklist:
        - name: coverage
          automated: {evidence: "coverage.line_percent >= 80"}
        - name: qa sign-off
          gate: start
          manual: {owner: qa, evidence: link required}
    - name: dev
  pipeline:
    jobs:
      - name: deploy
        runs_on: {role: nobody}
        steps: [{run: "true"}]
`

func istanbul(pct int) []byte {
	return fmt.Appendf(nil, `{"total":{"lines":{"total":100,"covered":%d,"skipped":0,"pct":%d},"statements":{"total":100,"covered":%d,"skipped":0,"pct":%d},"functions":{"total":10,"covered":10,"skipped":0,"pct":100},"branches":{"total":10,"covered":10,"skipped":0,"pct":100}}}`, pct, pct, pct, pct)
}

// The release page's checklist, evidence, ownership and freezes, and the
// actions on them: an automated item unmet then holding once evidence
// arrives; a manual item refused to a non-owner in words and ticked from
// the page by an owner; a freeze shown on the release and services pages;
// the override requested and approved from the page, refused to the
// requester; a viewer sees all of it and no control; CSRF refused.
func TestChecklistEvidenceAndFreezesOnThePage(t *testing.T) {
	f := newFixture(t)
	f.api.FreezeOverrideGroup = "incident-commanders"
	f.addUser(t, "quinn", []shipgate.Role{shipgate.RoleViewer}, "qa")
	f.addUser(t, "ian", []shipgate.Role{shipgate.RoleViewer}, "incident-commanders")
	admin, carol := f.client("admin"), f.client("carol")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(governedWeb)); err != nil {
		t.Fatal(err)
	}
	v, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "2.0", Artifact: artifact(t, "two")})
	if err != nil {
		t.Fatal(err)
	}
	rel := fmt.Sprintf("/releases/%d", v.ID)

	qa := f.browser(t)
	qaCSRF := qa.login("quinn")
	_, page, _ := qa.get(rel)
	mustContain(t, page, "<dt>Owner</dt><dd>web-team</dd>", `<a href="https://wiki.example.com/web/runbook" rel="noopener noreferrer">`,
		`id="checklist"`, "<strong>✗ unmet</strong> — coverage", "no evidence gives coverage.line_percent", "<code>coverage.line_percent &gt;= 80</code>",
		"<strong>✗ unmet</strong> — qa sign-off", "manual, owner qa; must hold before the release starts",
		`action="/releases/`+fmt.Sprint(v.ID)+`/checklist/tick"`, `<label for="tick-link-1">`, "No evidence is attached to this release.")

	// Evidence arrives: the automated item holds, the evidence is listed.
	if _, _, err := carol.AddEvidence(ctx, v.ID, client.EvidenceFile{Type: "coverage", Name: "coverage-summary.json", Content: istanbul(85)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := carol.AddEvidenceLink(ctx, v.ID, "https://ci.example.com/runs/7", "CI run 7"); err != nil {
		t.Fatal(err)
	}
	_, page, _ = qa.get(rel)
	mustContain(t, page, "<strong>✓ holds</strong> — coverage", "line coverage 85", "coverage-summary.json", "<td>carol, <time",
		`<a href="https://ci.example.com/runs/7" rel="noopener noreferrer">CI run 7</a>`)

	// A non-owner is told why not, and a crafted tick is refused in words.
	cb := f.browser(t)
	carolCSRF := cb.login("carol")
	_, page, _ = cb.get(rel)
	mustContain(t, page, "You cannot tick it: only a member of qa may tick it; you (carol) are not one.")
	if strings.Contains(page, "/checklist/tick") {
		t.Error("a non-owner is offered the Tick form")
	}
	code, page, _ := cb.post(rel+"/checklist/tick", url.Values{"csrf": {carolCSRF}, "item": {"qa sign-off"}, "link": {"https://tickets.example.com/QA-1"}})
	if code != http.StatusForbidden || !strings.Contains(page, "only a member of qa may tick") || !strings.Contains(page, "carol is not one") || !strings.Contains(page, `href="`+rel+`"`) {
		t.Fatalf("a non-owner's tick: %d\n%s", code, page)
	}
	// Without the CSRF token an owner's tick is refused too.
	if code, page, _ := qa.post(rel+"/checklist/tick", url.Values{"item": {"qa sign-off"}, "link": {"https://tickets.example.com/QA-1"}}); code != http.StatusForbidden || !strings.Contains(page, "CSRF") {
		t.Fatalf("a tick without CSRF: %d\n%s", code, page)
	}
	// No link: the API's words.
	if code, page, _ := qa.post(rel+"/checklist/tick", url.Values{"csrf": {qaCSRF}, "item": {"qa sign-off"}}); code != http.StatusBadRequest || !strings.Contains(page, "link") {
		t.Fatalf("a tick without a link: %d\n%s", code, page)
	}
	if n := f.count(t, shipgate.ActionChecklistTicked, "quinn") + f.count(t, shipgate.ActionChecklistTicked, "carol"); n != 0 {
		t.Fatalf("refused ticks recorded %d ticks", n)
	}
	// The owner ticks it from the page.
	code, _, h := qa.post(rel+"/checklist/tick", url.Values{"csrf": {qaCSRF}, "item": {"qa sign-off"}, "link": {"https://tickets.example.com/QA-1"}, "comment": {"smoke-tested"}})
	if code != http.StatusSeeOther || h.Get("Location") != rel+"#checklist" {
		t.Fatalf("owner's tick: %d %s", code, h.Get("Location"))
	}
	if f.count(t, shipgate.ActionChecklistTicked, "quinn") != 1 {
		t.Fatal("the tick is not audited")
	}
	_, page, _ = qa.get(rel)
	mustContain(t, page, "<strong>✓ holds</strong> — qa sign-off", "Ticked by quinn at", `<a href="https://tickets.example.com/QA-1" rel="noopener noreferrer">`, "— “smoke-tested”")

	// A freeze of prod: the approved release waits, and every page says so.
	to := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	fz, err := admin.CreateFreeze(ctx, client.FreezeRequest{Environment: "prod", From: time.Now().Add(-time.Minute), To: to, Reason: "black friday"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client("dave").Approve(ctx, v.ID, v.Digest, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.api.Reconciler.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := carol.Release(ctx, v.ID); got.State != shipgate.StateQueued || !strings.Contains(got.Reason, "frozen until") {
		t.Fatalf("not held by the freeze: %s %s", got.State, got.Reason)
	}
	_, page, _ = cb.get(rel)
	mustContain(t, page, fmt.Sprintf("Held by freeze %d</strong> until <time datetime=\"%s\">", fz.ID, to.Format(time.RFC3339)), ": black friday.",
		"environment prod", `action="`+rel+`/freeze-override"`, `<label for="override-reason">`, "A member of incident-commanders other than you must approve it.")
	for _, p := range []string{"/services", "/services/web"} {
		_, page, _ = qa.get(p)
		mustContain(t, page, "black friday", "environment prod", "web-team", `href="https://wiki.example.com/web/runbook"`)
	}
	// ian may not create releases: not offered, and refused if crafted.
	ib := f.browser(t)
	ianCSRF := ib.login("ian")
	_, page, _ = ib.get(rel)
	mustContain(t, page, "You cannot request an override: asking for an override needs the permission to create releases")
	if code, _, _ := ib.post(rel+"/freeze-override", url.Values{"csrf": {ianCSRF}, "reason": {"x"}}); code != http.StatusForbidden {
		t.Fatalf("a viewer's override request: %d", code)
	}
	// carol asks, with a reason (without one: refused in words).
	if code, page, _ := cb.post(rel+"/freeze-override", url.Values{"csrf": {carolCSRF}}); code != http.StatusBadRequest || !strings.Contains(page, "needs a reason") {
		t.Fatalf("an override without a reason: %d\n%s", code, page)
	}
	if code, _, h := cb.post(rel+"/freeze-override", url.Values{"csrf": {carolCSRF}, "reason": {"checkout is down"}}); code != http.StatusSeeOther || h.Get("Location") != rel+"#freezes" {
		t.Fatalf("override request: %d %s", code, h.Get("Location"))
	}
	_, page, _ = cb.get(rel)
	mustContain(t, page, "‖ requested, waiting for approval", "Requested by carol", ": checkout is down.",
		"You cannot approve it: you requested this override and cannot approve it; another member of incident-commanders must.")
	code, page, _ = cb.post(rel+"/freeze-override/approve", url.Values{"csrf": {carolCSRF}})
	if code != http.StatusForbidden || !strings.Contains(page, "carol requested this override and cannot approve it") {
		t.Fatalf("the requester approves: %d\n%s", code, page)
	}
	db := f.browser(t)
	daveCSRF := db.login("dave")
	_, page, _ = db.get(rel)
	mustContain(t, page, "You cannot approve it: only a member of incident-commanders may approve a freeze override; you (dave) are not one.")
	if code, page, _ := db.post(rel+"/freeze-override/approve", url.Values{"csrf": {daveCSRF}}); code != http.StatusForbidden || !strings.Contains(page, "dave is not one") {
		t.Fatalf("a non-member approves: %d\n%s", code, page)
	}
	// The viewer sees it all, and no control.
	vb := f.browser(t)
	vb.login("viewer")
	_, page, _ = vb.get(rel)
	mustContain(t, page, "Held by freeze", "qa sign-off", "CI run 7", "‖ requested, waiting for approval", "Policy decisions")
	for _, action := range []string{"/checklist/tick", `/freeze-override"`, "/freeze-override/approve"} {
		if strings.Contains(page, `action="`+rel+action) {
			t.Errorf("a viewer is offered %s", action)
		}
	}
	// ian, of the override group, approves from the page; the release
	// may start through the freeze.
	_, page, _ = ib.get(rel)
	mustContain(t, page, `action="`+rel+`/freeze-override/approve"`)
	if code, page, _ := ib.post(rel+"/freeze-override/approve", url.Values{}); code != http.StatusForbidden || !strings.Contains(page, "CSRF") {
		t.Fatalf("approve without CSRF: %d", code)
	}
	if f.count(t, shipgate.ActionFreezeOverrideApproved, "ian") != 0 {
		t.Fatal("a refused approval was recorded")
	}
	if code, _, _ := ib.post(rel+"/freeze-override/approve", url.Values{"csrf": {ianCSRF}}); code != http.StatusSeeOther {
		t.Fatalf("ian approves: %d", code)
	}
	if f.count(t, shipgate.ActionFreezeOverrideRequested, "carol") != 1 || f.count(t, shipgate.ActionFreezeOverrideApproved, "ian") != 1 {
		t.Fatal("the override is not audited")
	}
	if _, err := f.api.Reconciler.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	_, page, _ = cb.get(rel)
	mustContain(t, page, "✓ approved by ian", "the release may start through any freeze")
	if strings.Contains(page, "Held by freeze") {
		t.Error("an overridden release still says it is held")
	}
}

// The governance sections follow the release live: a tick by someone
// else reaches an open page's stream.
func TestLiveStreamShowsATick(t *testing.T) {
	f := newFixture(t)
	f.addUser(t, "quinn", []shipgate.Role{shipgate.RoleViewer}, "qa")
	if _, err := f.client("admin").Apply(ctx, "web.yaml", []byte(governedWeb)); err != nil {
		t.Fatal(err)
	}
	v, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "2.0", Artifact: artifact(t, "two")})
	if err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.login("viewer")
	s := b.live(fmt.Sprintf("/releases/%d/live", v.ID))
	s.waitFor(t, "the checklist", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, `"id":"checklist"`) && strings.Contains(data, "not ticked yet")
	})
	if _, err := f.client("quinn").TickChecklist(ctx, v.ID, client.TickRequest{Item: "qa sign-off", Link: "https://tickets.example.com/QA-2"}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "the tick", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, `"id":"checklist"`) && strings.Contains(data, "Ticked by quinn")
	})
}

// A release with more evidence than the page lists, a full checklist
// and freezes stays within the page weight, and says what it left out.
func TestGovernedReleasePageWeight(t *testing.T) {
	f := newFixture(t)
	admin, carol := f.client("admin"), f.client("carol")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(governedWeb)); err != nil {
		t.Fatal(err)
	}
	v, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "2.0", Artifact: artifact(t, "two")})
	if err != nil {
		t.Fatal(err)
	}
	const items = 160 // and as many evidence.added events: more than the timeline lists
	for i := range items {
		u := fmt.Sprintf("https://ci.example.com/runs/%d/a-rather-long-path-to-a-report-that-people-read", i)
		if _, _, err := carol.AddEvidenceLink(ctx, v.ID, u, fmt.Sprintf("report %d of the nightly run", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		from := time.Now().Add(time.Duration(i+1) * time.Hour)
		if _, err := admin.CreateFreeze(ctx, client.FreezeRequest{Environment: "prod", From: from, To: from.Add(30 * time.Minute), Reason: fmt.Sprintf("maintenance window %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ck := sessionCookie(t, f, "dave")
	path := fmt.Sprintf("/releases/%d", v.ID)
	rec := render(f, ck, path)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, rec.Code)
	}
	page := rec.Body.String()
	mustContain(t, page, fmt.Sprintf("%d older items are not listed", items-50), "report 159 of the nightly run", "maintenance window 0", "40 later freezes are not listed",
		"older events are not listed here", fmt.Sprintf(`href="/audit?subject=release/%d"`, v.ID))
	ev := page[strings.Index(page, `id="evidence"`):]
	ev = ev[:strings.Index(ev, "</section>")]
	if strings.Contains(ev, ">report 9 of the nightly run<") || strings.Contains(page, "maintenance window 59") {
		t.Error("the page lists past its bounds")
	}
	if rec.Body.Len() > maxPageBytes-11_000 { // leaves room for the stylesheet and script
		t.Errorf("GET %s: %d bytes of HTML", path, rec.Body.Len())
	}
	t.Logf("GET %s: %d bytes of HTML", path, rec.Body.Len())
}

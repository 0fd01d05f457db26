package webui_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
)

func TestAgentsPageShowsStatesLabelsAndWork(t *testing.T) {
	f := newFixture(t)
	f.api.LocalRunner = &shipgate.RunnerInfo{Name: "local@here", Labels: map[string]string{"shipgate.local": "true"}}
	testutil.InsertRawAgent(t, f.db, "builder-1", map[string]string{"os": "linux", "zone": "<b>eu</b>"})
	testutil.InsertRawAgent(t, f.db, "builder-2", nil)
	testutil.InsertRawAgent(t, f.db, "old-box", map[string]string{"os": "bsd"})
	raw := testutil.RawDB(t, f.db)
	if _, err := raw.Exec(`UPDATE agents SET last_seen = ? WHERE name = 'old-box'`, time.Now().Add(-time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svcAPI("admin").DrainAgent(ctx, "builder-2", true); err != nil {
		t.Fatal(err)
	}
	// builder-1 holds a job of a release.
	if _, err := f.svcAPI("admin").Apply(ctx, "web.yaml", []byte(svcWebService)); err != nil {
		t.Fatal(err)
	}
	rel := f.svcRelease(t, "staging", "4.2")
	a, ok, err := f.api.Dispatcher.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "builder-1"}})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}

	b := f.browser(t)
	b.login("viewer")
	code, page, _ := b.get("/agents")
	if code != 200 {
		t.Fatalf("agents: %d\n%s", code, page)
	}
	row := func(name string) string {
		i := strings.Index(page, `<tr id="agent-`+name+`">`)
		if i < 0 {
			t.Fatalf("no row for %s:\n%s", name, page)
		}
		return page[i : i+strings.Index(page[i:], "</tr>")]
	}
	for name, wants := range map[string][]string{
		"builder-1": {`<span aria-hidden="true">●</span> online`, `<code class="label">os=linux</code>`, `zone=&lt;b&gt;eu&lt;/b&gt;`,
			`<a href="/releases/` + strconv.FormatInt(rel.ID, 10) + `">web 4.2 → staging</a>: job <code>` + a.Key.Job + `</code>, attempt 1`},
		"builder-2": {`<span aria-hidden="true">⏏</span> draining`, "nothing", "Take back"},
		"old-box":   {`<span aria-hidden="true">✖</span> lost`, `os=bsd`},
	} {
		r := row(name)
		for _, want := range wants {
			if !strings.Contains(r, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, r)
			}
		}
		// A viewer sees the control disabled, with the reason.
		if !strings.Contains(r, `disabled aria-describedby="drain-why"`) || strings.Contains(r, `<form`) {
			t.Errorf("a viewer has a working drain form for %s", name)
		}
	}
	if !strings.Contains(page, "needs the admin role") || !strings.Contains(page, "<code>local@here</code>") || !strings.Contains(page, "shipgate.local=true") {
		t.Errorf("the reason or the built-in runner is missing:\n%s", page)
	}
}

func TestDrainFromTheUIIsForAdmins(t *testing.T) {
	f := newFixture(t)
	testutil.InsertRawAgent(t, f.db, "builder-1", map[string]string{"os": "linux"})

	// carol may not drain: refused in words (403), audited, nothing changed.
	carol := f.browser(t)
	csrf := carol.login("carol")
	code, page, _ := carol.post("/agents/builder-1/drain", url.Values{"csrf": {csrf}, "draining": {"true"}})
	if code != http.StatusForbidden || !strings.Contains(page, "forbidden") || !strings.Contains(page, "admin") {
		t.Fatalf("carol's drain: %d\n%s", code, page)
	}
	if ev := f.lastEvent(t); ev.Action != shipgate.ActionAccessDenied || ev.Actor != "carol" {
		t.Fatalf("carol's refusal is not audited: %+v", ev)
	}
	agents, _ := f.svcAPI("admin").Agents(ctx)
	if agents[0].Draining {
		t.Fatal("a refused drain drained the agent")
	}
	// Without the CSRF token even the admin is refused.
	admin := f.browser(t)
	csrf = admin.login("admin")
	if code, _, _ := admin.post("/agents/builder-1/drain", url.Values{"draining": {"true"}}); code != http.StatusForbidden {
		t.Fatalf("drain without csrf: %d", code)
	}
	// Bad input changes nothing.
	if code, page, _ := admin.post("/agents/builder-1/drain", url.Values{"csrf": {csrf}, "draining": {"maybe"}}); code != http.StatusBadRequest || !strings.Contains(page, "draining must be true") {
		t.Fatalf("drain=maybe: %d\n%s", code, page)
	}
	if code, _, _ := admin.post("/agents/ghost/drain", url.Values{"csrf": {csrf}, "draining": {"true"}}); code != http.StatusNotFound {
		t.Fatalf("drain of an unknown agent: %d", code)
	}
	// The admin drains, then takes it back; both audited in their name.
	code, _, h := admin.post("/agents/builder-1/drain", url.Values{"csrf": {csrf}, "draining": {"true"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/agents#agent-builder-1" {
		t.Fatalf("drain: %d %s", code, h.Get("Location"))
	}
	if ev := f.lastEvent(t); ev.Action != shipgate.ActionAgentDrained || ev.Actor != "admin" || ev.Subject != shipgate.AgentSubject("builder-1") {
		t.Fatalf("drain not audited: %+v", ev)
	}
	_, page, _ = admin.get("/agents")
	if !strings.Contains(page, "draining</span>") || !strings.Contains(page, `<input type="hidden" name="draining" value="false"><button type="submit" class="secondary">Take back`) {
		t.Fatalf("after draining:\n%s", page)
	}
	admin.post("/agents/builder-1/drain", url.Values{"csrf": {csrf}, "draining": {"false"}})
	if ev := f.lastEvent(t); ev.Action != shipgate.ActionAgentResumed || ev.Actor != "admin" {
		t.Fatalf("take back not audited: %+v", ev)
	}
}

package webui_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// rollingService is a service whose job an agent labelled role=web runs.
const rollingService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: deploy
        runs_on: {role: web}
        steps: [{run: "true"}]
`

// rolling is a release whose deploy job a registered agent holds, ready
// to report its rollout through the agent protocol.
type rolling struct {
	id    int64
	agent *client.Agent
	key   shipgate.AttemptKey
	start time.Time
}

func (f *fixture) rolling(t *testing.T) *rolling { return f.rollingB(t) }

func (f *fixture) rollingB(t testing.TB) *rolling {
	t.Helper()
	admin := client.New(f.srv.URL, f.tokens["admin"])
	if _, err := admin.Apply(ctx, "web.yaml", []byte(rollingService)); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := client.New(f.srv.URL, tok.Secret).RegisterAgent(ctx, client.RegisterAgentRequest{Name: "web-1", Labels: map[string]string{"role": "web"}, Version: "test", Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("artifact"), 0o644)
	v, err := client.New(f.srv.URL, f.tokens["carol"]).CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "2.0", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	ag := client.NewAgent(f.srv.URL, reg.Secret)
	asg, ok, err := ag.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: 5 * time.Second})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	return &rolling{id: v.ID, agent: ag, key: asg.Key, start: time.Now().UTC().Add(-time.Hour)}
}

// status is the canary's report number seq (a second apart), at step 1
// of 3 with weight 10 until seq 10, then 30.
func (ro *rolling) status(seq int64, phase string) shipgate.RolloutStatus {
	w := 10
	if seq > 10 {
		w = 30
	}
	at := ro.start.Add(time.Duration(seq) * time.Second)
	s := shipgate.RolloutStatus{Seq: seq, Strategy: "canary", Phase: phase, Step: 1, Steps: 3, Weight: w,
		StableVersion: "1.0", CanaryVersion: "2.0", UpdatedAt: at,
		Traffic: []shipgate.VersionTraffic{
			{Version: "1.0", Role: "stable", Requests: 90 * seq, Errors: seq / 10, Slow: 9 * seq / 10},
			{Version: "2.0", Role: "canary", Requests: 10 * seq, Errors: seq / 5, Slow: seq / 2},
		},
		Progress: []shipgate.AnalysisProgress{
			{Step: 1, Judge: "sequential", Metric: "errors+latency", E: map[string]float64{"errors": float64(seq) / 2, "slow": 0.5, "tail": 1}, Threshold: map[string]float64{"errors": 100, "slow": 200, "tail": 200}},
			{Step: 1, Judge: "threshold", Metric: "latency-p90", Values: []float64{float64(100 + seq)}, Result: shipgate.AnalysisSuccessful},
		},
	}
	if phase == shipgate.RolloutPaused {
		s.Pause, s.Paused, s.Progress = 1, "analysis inconclusive: metric latency-p90 needs a person to look", nil
	}
	return s
}

func (ro *rolling) report(t *testing.T, s shipgate.RolloutStatus) {
	t.Helper()
	if _, err := ro.agent.Rollout(ctx, "", ro.key, s); err != nil {
		t.Fatalf("report %d: %v", s.Seq, err)
	}
}

// feed reports n statuses and the decisions of a rollout that ends paused
// for a person.
func (ro *rolling) feed(t *testing.T, n int64) {
	t.Helper()
	for seq := int64(1); seq < n; seq++ {
		s := ro.status(seq, shipgate.RolloutProgressing)
		if seq == n/2 {
			s.Decisions = []shipgate.AnalysisDecision{{At: ro.start.Add(time.Duration(seq) * time.Second), Step: 1, Judge: "sequential", Metric: "errors+latency", Phase: shipgate.AnalysisSuccessful,
				Summary:  "no evidence the canary is worse than stable after 30s",
				Evidence: map[string]any{"e_errors": 4.5, "e_slow": 0.5, "e_tail": 1.0, "threshold": 100.0, "threshold_slow": 200.0, "threshold_tail": 200.0}}}
		}
		ro.report(t, s)
	}
	s := ro.status(n, shipgate.RolloutPaused)
	s.Decisions = []shipgate.AnalysisDecision{{At: ro.start.Add(time.Duration(n) * time.Second), Step: 1, Background: true, Judge: "threshold", Metric: "latency-p90", Phase: shipgate.AnalysisInconclusive,
		Summary: "latency-p90 was inconclusive 2 times, more than its limit of 1: <b>look</b> at the dashboards"}}
	ro.report(t, s)
}

func TestRolloutViewShowsHistoryDecisionsAndReasons(t *testing.T) {
	f := newFixture(t)
	ro := f.rolling(t)
	ro.feed(t, 40)
	b := f.browser(t)
	b.login("carol")
	code, page, _ := b.get(fmt.Sprintf("/releases/%d/rollout", ro.id))
	if code != 200 {
		t.Fatalf("rollout page: %d\n%s", code, page)
	}
	for _, want := range []string{
		`id="rollout"`, "Job deploy, attempt 1", "canary", "step 1 of 3", "30 % of traffic on the new version",
		`<span aria-hidden="true">‖</span> paused`, "analysis inconclusive: metric latency-p90 needs a person to look",
		"Stable version</dt><dd>1.0", "<dd>2.0</dd>",
		// The charts, each with a title, a description and its data as a table.
		"Traffic weight over time", "Requests per version", "Errors and slow requests per version",
		"Sequential judge: e-values against the threshold", "rollback threshold (errors) 100", "step 1 e-value (errors)",
		"Metric latency-p90 against its conditions", "139 (successful)",
		"<title id=", "<desc id=", "the data as a table", "stable 1.0 slow", "canary 2.0 errors", "30 %",
		// Every decision with its reason; stored text is escaped.
		"no evidence the canary is worse than stable after 30s", "background (acted on at step 1)", "inconclusive",
		"more than its limit of 1: &lt;b&gt;look&lt;/b&gt; at the dashboards",
		// Promote for a person, Abort as a cancel with a reason.
		`action="/releases/` + fmt.Sprint(ro.id) + `/promote"`, "Promote: continue the rollout", "Waiting for a person: pause 1 of job deploy at step 1",
		"Abort: cancel the release", "a person aborts a rollout by cancelling its release", `name="reason"`, `name="csrf"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the rollout page lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>look</b>") {
		t.Error("a decision's summary is not escaped")
	}
	if strings.Contains(page, "disabled") {
		t.Error("carol (deployer) sees a disabled control")
	}
	// A viewer sees the same view with the controls disabled, and why.
	v := f.browser(t)
	v.login("viewer")
	_, page, _ = v.get(fmt.Sprintf("/releases/%d/rollout", ro.id))
	for _, want := range []string{"Traffic weight over time", "You cannot promote a rollout: your roles (viewer) do not include the release.promote permission",
		"You cannot abort a rollout (which cancels its release): your roles (viewer) do not include the release.cancel permission", "disabled"} {
		if !strings.Contains(page, want) {
			t.Errorf("the viewer's page lacks %q", want)
		}
	}
}

// A long rollout's page stays small: the charts draw a bounded number of
// points and the tables a bounded number of rows.
func TestRolloutViewStaysSmall(t *testing.T) {
	f := newFixture(t)
	ro := f.rolling(t)
	for seq := int64(1); seq <= 1500; seq++ {
		if _, err := f.api.Dispatcher.Rollout(ctx, "web-1", ro.key, ro.status(seq, shipgate.RolloutProgressing)); err != nil {
			t.Fatal(err)
		}
	}
	b := f.browser(t)
	b.login("carol")
	code, page, _ := b.get(fmt.Sprintf("/releases/%d/rollout", ro.id))
	if code != 200 || !strings.Contains(page, "Requests per version") {
		t.Fatalf("rollout page: %d", code)
	}
	if len(page) > 150<<10 {
		t.Fatalf("the rollout page of 1,500 reports is %d bytes; the budget is 150 KB", len(page))
	}
}

func TestPromoteFromTheRolloutView(t *testing.T) {
	f := newFixture(t)
	ro := f.rolling(t)
	ro.feed(t, 5)
	path := fmt.Sprintf("/releases/%d/promote", ro.id)

	// A viewer is refused in words, and the API audits the refusal.
	v := f.browser(t)
	vcsrf := v.login("viewer")
	code, page, _ := v.post(path, url.Values{"csrf": {vcsrf}, "from": {"rollout"}})
	if code != http.StatusForbidden || !strings.Contains(page, "release.promote") {
		t.Fatalf("viewer promotes: %d\n%s", code, page)
	}
	if ev := f.lastEvent(t); ev.Action != shipgate.ActionAccessDenied || ev.Actor != "viewer" {
		t.Fatalf("the refusal is not audited: %+v", ev)
	}
	// Without the CSRF token: refused, nothing promoted.
	b := f.browser(t)
	csrf := b.login("carol")
	if code, _, _ := b.post(path, url.Values{"comment": {"x"}}); code != http.StatusForbidden {
		t.Fatalf("promote without CSRF: %d", code)
	}
	code, _, h := b.post(path, url.Values{"csrf": {csrf}, "comment": {"dashboards are green"}, "from": {"rollout"}})
	if code != http.StatusSeeOther || h.Get("Location") != fmt.Sprintf("/releases/%d/rollout", ro.id) {
		t.Fatalf("promote: %d %s", code, h.Get("Location"))
	}
	ev := f.lastEvent(t)
	if ev.Action != shipgate.ActionRolloutPromoted || ev.Actor != "carol" || !strings.Contains(string(ev.Details), "dashboards are green") {
		t.Fatalf("promotion audited as %+v %s", ev, ev.Details)
	}
	// Promoting again before the agent moved on is the API's refusal, in
	// words; a redirect target from the form cannot leave the site.
	code, page, _ = b.post(path, url.Values{"csrf": {csrf}, "from": {"https://evil.example"}})
	if code != http.StatusConflict || !strings.Contains(page, "already promoted") {
		t.Fatalf("second promote: %d\n%s", code, page)
	}
	ro.report(t, ro.status(6, shipgate.RolloutProgressing))
	_, page, _ = b.get(fmt.Sprintf("/releases/%d/rollout", ro.id))
	if strings.Contains(page, "Promote: continue the rollout") {
		t.Fatal("a progressing rollout still offers Promote")
	}
}

func TestAbortFromTheRolloutViewCancelsTheRelease(t *testing.T) {
	f := newFixture(t)
	ro := f.rolling(t)
	ro.feed(t, 5)
	path := fmt.Sprintf("/releases/%d/abort", ro.id)
	v := f.browser(t)
	vcsrf := v.login("viewer")
	if code, page, _ := v.post(path, url.Values{"csrf": {vcsrf}, "reason": {"x"}}); code != http.StatusForbidden || !strings.Contains(page, "release.cancel") {
		t.Fatalf("viewer aborts: %d\n%s", code, page)
	}
	b := f.browser(t)
	csrf := b.login("carol")
	code, page, _ := b.post(path, url.Values{"csrf": {csrf}, "reason": {"  "}})
	if code != http.StatusBadRequest || !strings.Contains(page, "say why you abort the rollout") {
		t.Fatalf("abort without a reason: %d\n%s", code, page)
	}
	code, _, h := b.post(path, url.Values{"csrf": {csrf}, "reason": {"p90 doubled on the canary"}})
	if code != http.StatusSeeOther || h.Get("Location") != fmt.Sprintf("/releases/%d#rollout", ro.id) {
		t.Fatalf("abort: %d %s", code, h.Get("Location"))
	}
	var cancelled *shipgate.AuditEvent
	for _, e := range rolloutAuditEvents(t, f) {
		if e.Action == shipgate.ActionReleaseCancelled {
			cancelled = &e
		}
	}
	if cancelled == nil || cancelled.Actor != "carol" || !strings.Contains(string(cancelled.Details), "p90 doubled on the canary") {
		t.Fatalf("the abort is not audited as carol's cancellation with the reason: %+v", cancelled)
	}
	rel, err := client.New(f.srv.URL, f.tokens["viewer"]).Release(ctx, ro.id)
	if err != nil || (rel.State != shipgate.StateCancelled) {
		t.Fatalf("release after abort: %v %v", rel.State, err)
	}
	// A cancelled release offers no Abort any more.
	_, page, _ = b.get(fmt.Sprintf("/releases/%d/rollout", ro.id))
	if strings.Contains(page, "Abort: cancel the release") {
		t.Fatal("a final release still offers Abort")
	}
}

// rolloutAuditEvents is the whole audit log, in order.
func rolloutAuditEvents(t *testing.T, f *fixture) []shipgate.AuditEvent {
	t.Helper()
	var ev []shipgate.AuditEvent
	if err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		ev, err = tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ev
}

// The rollout page follows the rollout live: a new report replaces the
// section, and the stream ends once the release is final.
func TestRolloutPageFollowsTheRolloutLive(t *testing.T) {
	f := newFixture(t)
	ro := f.rolling(t)
	ro.feed(t, 5)
	b := f.browser(t)
	csrf := b.login("carol")
	_, page, _ := b.get(fmt.Sprintf("/releases/%d/rollout", ro.id))
	live := fmt.Sprintf("/releases/%d/rollout/live", ro.id)
	if !strings.Contains(page, `data-live="`+live+`"`) || !strings.Contains(page, `id="live-status"`) {
		t.Fatalf("the rollout page does not follow the rollout:\n%s", page)
	}
	sse, code := b.stream(live)
	if code != 200 {
		t.Fatalf("live: %d", code)
	}
	s := ro.status(20, shipgate.RolloutProgressing)
	s.Step, s.Weight = 2, 50
	ro.report(t, s)
	testutil.WaitFor(t, "the section replaced with the new weight", func() bool {
		body := sse.String()
		return strings.Contains(body, "event: replace") && strings.Contains(body, `\"rollout\"`) && strings.Contains(body, "50 % of traffic on the new version")
	})
	if strings.Contains(sse.String(), "Promote: continue the rollout") {
		t.Fatal("the live section of a progressing rollout offers Promote")
	}
	// Forms in the live section return to the rollout page.
	if !strings.Contains(sse.String(), `name=\"from\" value=\"rollout\"`) {
		t.Fatalf("the live section's forms return elsewhere:\n%s", sse.String())
	}
	if code, _, _ := b.post(fmt.Sprintf("/releases/%d/abort", ro.id), url.Values{"csrf": {csrf}, "reason": {"enough"}}); code != http.StatusSeeOther {
		t.Fatalf("abort: %d", code)
	}
	testutil.WaitFor(t, "the stream to end with the release", func() bool { return strings.Contains(sse.String(), "event: end") })
}

// BenchmarkRolloutPage2000Points is the rollout page of a rollout with a
// full history (MaxRolloutPoints reports), through the UI.
func BenchmarkRolloutPage2000Points(b *testing.B) {
	f := newFixture(b)
	ro := f.rollingB(b)
	for seq := int64(1); seq <= shipgate.MaxRolloutPoints; seq++ {
		if _, err := f.api.Dispatcher.Rollout(ctx, "web-1", ro.key, ro.status(seq, shipgate.RolloutProgressing)); err != nil {
			b.Fatal(err)
		}
	}
	br := f.browser(b)
	br.login("carol")
	path := fmt.Sprintf("/releases/%d/rollout", ro.id)
	if code, page, _ := br.get(path); code != 200 || !strings.Contains(page, "Requests per version") {
		b.Fatalf("rollout page: %d", code)
	}
	for b.Loop() {
		br.get(path)
	}
}

package webui_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/bundle"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// webService: prod needs two approvals from release-managers (every
// fixture user is a member), never the creator's; dev needs none. The
// pipeline's jobs run on labels no runner has, so releases stay put.
const webService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  repository: https://git.example.com/acme/web
  inputs:
    - {name: region, default: eu, description: where it runs}
    - {name: token, secret: true, description: the deploy key}
  environments:
    - name: prod
      approvals: {required: 2, from_groups: [release-managers], expires_after: 1h}
      windows: [{days: [mon, tue], start: "09:00", end: "17:00", timezone: Europe/Berlin}]
      rollback: {enabled: true, check_target: deploy, delay_seconds: 60, mode: last_successful}
    - {name: dev}
  pipeline:
    jobs:
      - name: build
        runs_on: {role: nobody}
        steps: [{run: "true"}]
      - name: deploy
        needs: [build]
        runs_on: {role: nobody}
        steps: [{run: "true"}]
      - name: smoke
        needs: [deploy]
        runs_on: {role: nobody}
        steps: [{run: "true"}]
`

func (f *fixture) client(user string) *client.Client { return client.New(f.srv.URL, f.tokens[user]) }

func artifact(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// succeeded marks release id succeeded, as if it had run: the state is
// the release's mutable bookkeeping.
func (f *fixture) succeeded(t testing.TB, id int64) {
	t.Helper()
	if _, err := testutil.RawDB(t, f.db).Exec(`UPDATE releases SET state = 'succeeded' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
}

// pendingProd applies webService, makes release 1.0 (by admin) what runs in
// prod, and has carol create 2.0 there, pending approval.
func pendingProd(t *testing.T, f *fixture) (running, pending *client.ReleaseView) {
	t.Helper()
	if _, err := f.client("admin").Apply(ctx, "web.yaml", []byte(webService)); err != nil {
		t.Fatal(err)
	}
	running, err := f.client("admin").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "1.0",
		Artifact: artifact(t, "one"), SecretInputs: map[string]string{"token": "first-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	f.succeeded(t, running.ID)
	committed := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	pending, err = f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "2.0",
		Artifact: artifact(t, "two"), Inputs: map[string]string{"region": "us"}, SecretInputs: map[string]string{"token": "hunter2-very-secret"},
		Commit: "abc123def", Ref: "refs/tags/v2.0", CommittedAt: &committed})
	if err != nil {
		t.Fatal(err)
	}
	return running, pending
}

func mustContain(t *testing.T, page string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
}

func TestReleasePageShowsWhatAnApproverNeeds(t *testing.T) {
	f := newFixture(t)
	running, v := pendingProd(t, f)
	b := f.browser(t)
	b.login("dave")
	code, page, _ := b.get(fmt.Sprintf("/releases/%d", v.ID))
	if code != 200 {
		t.Fatalf("release page: %d\n%s", code, page)
	}
	mustContain(t, page,
		`id="release-state"`, `pending approval`, "Created by</dt><dd>carol",
		v.Artifact.SHA256, v.Artifact.Location, "3 B (3 bytes)",
		`href="https://git.example.com/acme/web/commit/abc123def"`, "refs/tags/v2.0", "2025-03-04 05:06:07 UTC",
		// inputs, with declarations; the secret masked
		"<code>region</code>", "<code>us</code>", "where it runs", "•••••• (secret, hidden)", "the deploy key",
		// the DAG and its words
		"<svg", `role="img"`, "<strong>deploy</strong>; needs build", "<strong>build</strong>; needs nothing (starts first)",
		// the policy in words
		"2 approvals required, from distinct people who are members of release-managers",
		"Self-approval: not allowed", "each approval counts for 1h0m0s",
		"mon, tue, 09:00–17:00 Europe/Berlin",
		"Enabled: yes", "Check target: the job deploy: only its failure triggers it", "Delay: 60 seconds", "Mode: to the last release that succeeded in this environment",
		// what changes against what runs now
		fmt.Sprintf(`<a href="/releases/%d">release %d</a> (version 1.0`, running.ID, running.ID),
		"<del><span class=\"sr-only\">old: </span><code>1.0</code></del>", "<ins><span class=\"sr-only\">new: </span><code>2.0</code></ins>",
		"Artifact digest (sha256)", running.Artifact.SHA256, "Input region", "<code>eu</code>",
		"Secret input token", "the secret value changed (values are never shown)",
		// approvals: the tally and who may still approve
		"<strong>0 of 2</strong>", "2 more needed", "Who may still approve: dave, erin.",
		`name="digest" value="`+v.Digest+`"`,
		`id="timeline"`, "release created",
		fmt.Sprintf(`data-live="/releases/%d/live"`, v.ID), `id="live-status"`, `aria-live="polite"`,
	)
	if strings.Contains(page, "hunter2") || strings.Contains(page, "first-secret") {
		t.Error("a secret value is on the page")
	}

	// The first release in an environment says so.
	first, err := f.client("admin").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "dev", Version: "0.1", Artifact: artifact(t, "x")})
	if err != nil {
		t.Fatal(err)
	}
	_, page, _ = b.get(fmt.Sprintf("/releases/%d", first.ID))
	mustContain(t, page, "First release in this environment")

	if code, _, _ := b.get("/releases/999999"); code != 404 {
		t.Errorf("a missing release: %d", code)
	}
	if code, _, _ := b.get("/releases/x"); code != 404 {
		t.Errorf("a bad id: %d", code)
	}
}

// findEvent is the newest audit event with action and actor.
func (f *fixture) findEvent(t *testing.T, action, actor string) *shipgate.AuditEvent {
	t.Helper()
	var evs []shipgate.AuditEvent
	if err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		evs, err = tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == action && evs[i].Actor == actor {
			return &evs[i]
		}
	}
	return nil
}

func TestApproveAndRejectFromThePage(t *testing.T) {
	f := newFixture(t)
	_, v := pendingProd(t, f)
	path := fmt.Sprintf("/releases/%d", v.ID)

	// dave approves from the page.
	dave := f.browser(t)
	csrf := dave.login("dave")
	_, page, _ := dave.get(path)
	code, body, h := dave.post(path+"/approve", url.Values{"csrf": {csrf}, "digest": {field2(t, page, "digest")}, "comment": {"looks right"}})
	if code != http.StatusSeeOther || h.Get("Location") != path+"#approvals" {
		t.Fatalf("approve: %d %s\n%s", code, h.Get("Location"), body)
	}
	if ev := f.findEvent(t, shipgate.ActionReleaseApproved, "dave"); ev == nil || !strings.Contains(string(ev.Details), "looks right") {
		t.Fatalf("no release.approved by dave: %+v", ev)
	}
	_, page, _ = dave.get(path)
	mustContain(t, page, "<strong>1 of 2</strong>", "(dave)", "1 more needed", "looks right", "You approved this release at", "Who may still approve: erin.")

	// carol created it: the page says why she cannot approve before she
	// tries, and the API refuses her if she does, audited.
	carol := f.browser(t)
	csrf = carol.login("carol")
	_, page, _ = carol.get(path)
	mustContain(t, page, "You cannot approve this release:", fmt.Sprintf("created release %d and cannot approve it: prod does not allow self-approval", v.ID))
	if strings.Contains(page, `action="`+path+`/approve"`) {
		t.Error("the creator is offered an approve form")
	}
	code, body, _ = carol.post(path+"/approve", url.Values{"csrf": {csrf}, "digest": {v.Digest}})
	if code != http.StatusForbidden || !strings.Contains(body, "cannot approve it: prod does not allow self-approval") {
		t.Fatalf("carol's own approval: %d\n%s", code, body)
	}
	f.api.FlushRefusals(ctx)
	if ev := f.findEvent(t, shipgate.ActionAccessDenied, "carol"); ev == nil {
		t.Fatal("carol's refused approval is not audited")
	}

	// A viewer sees why, gets no form, and is refused with the permission message.
	viewer := f.browser(t)
	csrf = viewer.login("viewer")
	_, page, _ = viewer.get(path)
	mustContain(t, page, "You cannot approve this release:", "needs the approver role")
	if strings.Contains(page, `action="`+path+`/approve"`) || strings.Contains(page, `action="`+path+`/cancel"`) {
		t.Error("a viewer is offered a form that acts")
	}
	code, body, _ = viewer.post(path+"/approve", url.Values{"csrf": {csrf}, "digest": {v.Digest}})
	if code != http.StatusForbidden || !strings.Contains(body, "release.approve") {
		t.Fatalf("viewer's approval: %d\n%s", code, body)
	}

	// A digest the release no longer has is refused (the page was stale).
	erin := f.browser(t)
	csrf = erin.login("erin")
	code, body, _ = erin.post(path+"/approve", url.Values{"csrf": {csrf}, "digest": {"sha256:" + strings.Repeat("0", 64)}})
	if code != http.StatusConflict || !strings.Contains(body, "look at the release again before deciding") {
		t.Fatalf("stale digest: %d\n%s", code, body)
	}
	// The refusal leads back to the release, to look at it again.
	if !strings.Contains(body, `<a href="`+path+`">Back to the release</a>`) {
		t.Errorf("the refusal page has no way back to the release:\n%s", body)
	}
	// Without the CSRF token: refused before the API is asked.
	code, body, _ = erin.post(path+"/approve", url.Values{"digest": {v.Digest}})
	if code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Fatalf("no csrf: %d\n%s", code, body)
	}
	if ev := f.findEvent(t, shipgate.ActionReleaseApproved, "erin"); ev != nil {
		t.Fatalf("a refused approval was recorded: %+v", ev)
	}

	// erin rejects with a reason: the release ends rejected.
	code, body, _ = erin.post(path+"/reject", url.Values{"csrf": {csrf}, "digest": {v.Digest}, "comment": {"wrong region"}})
	if code != http.StatusSeeOther {
		t.Fatalf("reject: %d\n%s", code, body)
	}
	_, page, _ = erin.get(path)
	mustContain(t, page, "rejected by erin: wrong region", "⊘ rejected", "Approvals are closed")
}

// field2 is the value of any hidden field of a page.
func field2(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no field %s", name)
	}
	return m[1]
}

func TestReleaseActionsShowTheAPIsAnswer(t *testing.T) {
	f := newFixture(t)
	_, v := pendingProd(t, f)
	path := fmt.Sprintf("/releases/%d", v.ID)
	carol := f.browser(t)
	csrf := carol.login("carol")

	// No rollback waits: hold is refused by the API, in words.
	code, body, _ := carol.post(path+"/rollback/hold", url.Values{"csrf": {csrf}, "reason": {"look first"}})
	if code != http.StatusConflict && code != http.StatusNotFound {
		t.Fatalf("hold without a rollback: %d\n%s", code, body)
	}
	mustContain(t, body, `class="problem"`)
	// Call off without a rollback: the API's refusal, in words.
	code, body, _ = carol.post(path+"/rollback/call-off", url.Values{"csrf": {csrf}, "reason": {"fine"}})
	if code != http.StatusNotFound || strings.Contains(body, "no API route") || !strings.Contains(body, "rollback") {
		t.Fatalf("call off without a rollback: %d\n%s", code, body)
	}
	// carol cancels with a reason.
	code, body, _ = carol.post(path+"/cancel", url.Values{"csrf": {csrf}, "reason": {"superseded"}})
	if code != http.StatusSeeOther {
		t.Fatalf("cancel: %d\n%s", code, body)
	}
	_, page, _ := carol.get(path)
	mustContain(t, page, "cancelled by carol: superseded")
	if ev := f.findEvent(t, shipgate.ActionReleaseCancelled, "carol"); ev == nil {
		t.Fatal("the cancel is not audited")
	}
	// A cancelled release cannot be rerun: the API says so.
	code, body, _ = carol.post(path+"/rerun", url.Values{"csrf": {csrf}})
	if code != http.StatusConflict {
		t.Fatalf("rerun of a cancelled release: %d\n%s", code, body)
	}
}

// sse reads a live stream's events into a channel.
type sse struct {
	events chan [2]string // kind, data
	resp   *http.Response
}

func (b *browser) live(path string) *sse {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.t.Context(), "GET", b.f.srv.URL+path, nil)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b.t.Fatalf("live: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{events: make(chan [2]string, 100), resp: resp}
	b.t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		var kind string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				kind = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				s.events <- [2]string{kind, line[len("data: "):]}
			}
		}
	}()
	return s
}

// waitFor reads events until one satisfies ok, failing after a bound.
func (s *sse) waitFor(t *testing.T, what string, ok func(kind, data string) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, open := <-s.events:
			if !open {
				t.Fatalf("the stream ended before %s", what)
			}
			if ok(ev[0], ev[1]) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s within the bound", what)
		}
	}
}

func TestLiveStreamShowsAnotherUsersApproval(t *testing.T) {
	f := newFixture(t)
	_, v := pendingProd(t, f)
	dave := f.browser(t)
	dave.login("dave")
	s := dave.live(fmt.Sprintf("/releases/%d/live", v.ID))
	// The stream starts with the page's live sections as they are.
	s.waitFor(t, "the first state", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, `"id":"release-state"`) && strings.Contains(data, "pending approval")
	})
	if _, err := f.client("erin").Approve(ctx, v.ID, v.Digest, "via the CLI"); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "the approvals after erin's approval", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, `"id":"approvals"`) && strings.Contains(data, "via the CLI")
	})
	if _, err := f.client("dave").Approve(ctx, v.ID, v.Digest, ""); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "the queued state", func(kind, data string) bool {
		return kind == "replace" && strings.Contains(data, `"id":"release-state"`) && strings.Contains(data, "queued")
	})
	// Cancelled, the release can change no more: the stream ends.
	if _, err := f.client("carol").Cancel(ctx, v.ID, "done"); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "the end", func(kind, data string) bool { return kind == "end" })
}

func TestLiveStreamNeedsASession(t *testing.T) {
	f := newFixture(t)
	_, v := pendingProd(t, f)
	code, _, h := f.browser(t).get(fmt.Sprintf("/releases/%d/live", v.ID))
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("anonymous live: %d %s", code, h.Get("Location"))
	}
}

const rollService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: roll}
spec:
  environments:
    - name: live
      approvals: {required: 0}
      rollback: {enabled: true, check_target: pipeline, delay_seconds: 300, mode: last_successful}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// run claims and finishes release id's jobs as a runner would, failing
// the jobs named in failing, until the release is final.
func (f *fixture) run(t *testing.T, id int64, failing ...string) {
	t.Helper()
	d := &reconcile.Dispatcher{DB: f.db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	for i := 0; i < 20; i++ {
		v, err := f.client("admin").Release(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.State.Final() {
			return
		}
		a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
		if err != nil || !ok {
			t.Fatalf("release %d %s: nothing to claim (%v)", id, v.State, err)
		}
		out := shipgate.JobOutcome{Succeeded: true}
		if slices.Contains(failing, a.Key.Job) {
			out = shipgate.JobOutcome{Reason: a.Key.Job + " broke"}
		}
		if err := d.Finish(ctx, "r", a.Key, out); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("release %d did not end", id)
}

func TestRollbackCountdownAndHoldFromThePage(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "roll.yaml", []byte(rollService)); err != nil {
		t.Fatal(err)
	}
	v1, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "roll", Environment: "live", Version: "1", Artifact: artifact(t, "1")})
	if err != nil {
		t.Fatal(err)
	}
	f.run(t, v1.ID)
	v2, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "roll", Environment: "live", Version: "2", Artifact: artifact(t, "2")})
	if err != nil {
		t.Fatal(err)
	}
	f.run(t, v2.ID, "deploy")
	path := fmt.Sprintf("/releases/%d", v2.ID)

	viewer := f.browser(t)
	viewer.login("viewer")
	_, page, _ := viewer.get(path)
	mustContain(t, page, `id="rollback"`, "Rollback: ", "pending", "Fires in ", "restoring version 1", "You cannot hold, fire or call off this rollback",
		"deploy broke", `id="jobs"`)
	if strings.Contains(page, `action="`+path+`/rollback/hold"`) {
		t.Error("a viewer is offered the hold form")
	}
	if m := regexp.MustCompile(`Fires in (\d+) seconds`).FindStringSubmatch(page); m == nil || m[1] == "0" {
		t.Errorf("no countdown in seconds: %v", m)
	}

	carol := f.browser(t)
	csrf := carol.login("carol")
	_, page, _ = carol.get(path)
	mustContain(t, page, `action="`+path+`/rollback/hold"`, `action="`+path+`/rollback/now"`, `action="`+path+`/rollback/call-off"`, `action="`+path+`/rerun"`)
	code, body, _ := carol.post(path+"/rollback/hold", url.Values{"csrf": {csrf}, "reason": {"checking the logs"}})
	if code != http.StatusSeeOther {
		t.Fatalf("hold: %d\n%s", code, body)
	}
	_, page, _ = carol.get(path)
	mustContain(t, page, "Held by carol: checking the logs", "rollback held")
	if strings.Contains(page, "Fires in ") {
		t.Error("a held rollback still counts down")
	}
	// A reason is required to call it off; then it ends without rolling back.
	code, body, _ = carol.post(path+"/rollback/call-off", url.Values{"csrf": {csrf}, "reason": {""}})
	if code != http.StatusBadRequest {
		t.Fatalf("call off without a reason: %d\n%s", code, body)
	}
	code, body, _ = carol.post(path+"/rollback/call-off", url.Values{"csrf": {csrf}, "reason": {"the old version has the same bug"}})
	if code != http.StatusSeeOther {
		t.Fatalf("call off: %d\n%s", code, body)
	}
	_, page, _ = carol.get(path)
	mustContain(t, page, "called off", "the old version has the same bug")
	if strings.Contains(page, `action="`+path+`/rollback/hold"`) {
		t.Error("a called-off rollback still offers hold")
	}
}

// The time a pending release next changes on its own is when an approval
// stops counting; the page says that in words, not "changes on its own".
func TestPendingReleaseSaysWhenAnApprovalStopsCounting(t *testing.T) {
	f := newFixture(t)
	_, v := pendingProd(t, f)
	if _, err := f.client("dave").Approve(ctx, v.ID, v.Digest, ""); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.login("erin")
	_, page, _ := b.get(fmt.Sprintf("/releases/%d", v.ID))
	mustContain(t, page, "1 of 2", "then the earliest approval stops counting, unless the release has enough approvals by then")
	if strings.Contains(page, "Changes on its own") {
		t.Error("the page still says only that the release changes on its own")
	}
}

// TestLiveStreamsAreBoundedPerUser: each open stream polls the store and
// re-renders the page, so one user (even a viewer) opening thousands
// would slow the server for everyone. Past MaxStreamsPerUser a stream is
// refused with 429; other users are unaffected, and a closed stream frees
// its place.
func TestLiveStreamsAreBoundedPerUser(t *testing.T) {
	f := newFixture(t)
	_, v := pendingProd(t, f)
	f.ui.MaxStreamsPerUser = 2
	b := f.browser(t)
	b.login("viewer")
	live := fmt.Sprintf("/releases/%d/live", v.ID)
	sctx, closeFirst := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(sctx, "GET", f.srv.URL+live, nil)
	first, err := b.c.Do(req)
	if err != nil || first.StatusCode != 200 {
		t.Fatalf("first stream: %v %v", err, first)
	}
	defer first.Body.Close()
	if _, code := b.stream(fmt.Sprintf("/releases/%d/logs/live?job=nope", v.ID)); code != 404 {
		// refused before the stream opens, and its place freed
		t.Fatalf("log stream of an unknown job: %d", code)
	}
	if _, code := b.stream(fmt.Sprintf("/releases/%d/rollout/live", v.ID)); code != 200 {
		t.Fatalf("second stream: %d", code)
	}
	code, page, _ := b.get(live)
	if code != http.StatusTooManyRequests || !strings.Contains(page, "live") {
		t.Fatalf("third stream of one user: %d, want 429\n%s", code, page)
	}
	other := f.browser(t)
	other.login("dave")
	if _, code := other.stream(live); code != 200 {
		t.Fatalf("another user's stream: %d", code)
	}
	closeFirst()
	testutil.WaitFor(t, "a closed stream to free its place", func() bool {
		code, _, _ := b.get(fmt.Sprintf("/releases/%d", v.ID)) // a page is never bounded
		if code != 200 {
			t.Fatalf("release page: %d", code)
		}
		_, code2 := b.stream(live)
		return code2 == 200
	})
}

// The release page offers the signed evidence bundle; the file it gives
// verifies offline with the server's public key, as `release bundle`'s does.
func TestReleasePageDownloadsAVerifiableBundle(t *testing.T) {
	f := newFixture(t)
	seed := make([]byte, shipgate.AuditSigningKeySize)
	seed[0] = 7
	f.api.AuditSigner, _ = shipgate.NewAuditSigner(seed)
	running, _ := pendingProd(t, f)
	b := f.browser(t)
	b.login("viewer")
	path := fmt.Sprintf("/releases/%d", running.ID)
	_, page, _ := b.get(path)
	mustContain(t, page, `href="`+path+`/bundle"`)
	code, body, h := b.get(path + "/bundle")
	if code != 200 || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("bundle download: %d %v\n%s", code, h, body)
	}
	rep, err := bundle.Verify([]byte(body), []shipgate.AuditPublicKey{f.api.AuditSigner.PublicKey()})
	if err != nil {
		t.Fatalf("the downloaded bundle does not verify: %v", err)
	}
	if rep == nil {
		t.Fatal("no report")
	}
}

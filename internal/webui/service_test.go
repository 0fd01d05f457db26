package webui_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

const svcWebService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: staging
    - name: prod
      approvals: {required: 1}
      rollback: {enabled: true, check_target: pipeline, delay_seconds: 3600}
  pipeline:
    jobs:
      - {name: deploy, steps: [{run: "true"}]}
`

// svcAPI is a client of the fixture's API as user.
func (f *fixture) svcAPI(user string) *client.Client { return client.New(f.srv.URL, f.tokens[user]) }

// svcRunJobs finishes every claimable job as runner r: those of release
// failing fail.
func (f *fixture) svcRunJobs(t *testing.T, failing int64) {
	t.Helper()
	for {
		a, ok, err := f.api.Dispatcher.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if err := f.api.Dispatcher.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Succeeded: a.Key.ReleaseID != failing, Reason: "broken"}); err != nil {
			t.Fatal(err)
		}
	}
}

// svcRelease creates a release of web as carol, approved by dave when it
// needs approval.
func (f *fixture) svcRelease(t *testing.T, env, version string) *client.ReleaseView {
	t.Helper()
	p := filepath.Join(t.TempDir(), version+".tar")
	if err := os.WriteFile(p, []byte(version), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := f.svcAPI("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: env, Version: version, Artifact: p})
	if err != nil {
		t.Fatal(err)
	}
	if r.State == shipgate.StatePendingApproval {
		if r, err = f.svcAPI("dave").Approve(ctx, r.ID, r.Digest, ""); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestServicesShowWhatRunsAndWaitingRollbacks(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svcAPI("admin").Apply(ctx, "web.yaml", []byte(svcWebService)); err != nil {
		t.Fatal(err)
	}
	f.svcRelease(t, "staging", "0.9")
	f.svcRunJobs(t, 0)
	v1 := f.svcRelease(t, "prod", "1.0")
	f.svcRunJobs(t, 0)
	v2 := f.svcRelease(t, "prod", "2.0")
	f.svcRunJobs(t, v2.ID) // fails: its rollback waits an hour
	pending := f.svcRelease(t, "staging", "3.0")

	b := f.browser(t)
	b.login("viewer")
	code, page, _ := b.get("/services")
	if code != 200 {
		t.Fatalf("services: %d\n%s", code, page)
	}
	for _, want := range []string{
		`<a href="/services/web">web</a>`,
		`<th scope="row">staging</th><td><a href="/releases/1">0.9</a> <span class="state state-succeeded"><span aria-hidden="true">✔</span> succeeded</span>`,
		fmt.Sprintf(`<a href="/releases/%d">#%d 3.0</a>`, pending.ID, pending.ID),
		fmt.Sprintf(`rollback of <a href="/releases/%d">release %d</a> to 1.0`, v2.ID, v2.ID),
		"pending</span> rollback", "fires at",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("services page lacks %q", want)
		}
	}

	code, page, _ = b.get("/services/web")
	if code != 200 {
		t.Fatalf("service: %d\n%s", code, page)
	}
	for _, want := range []string{
		"<strong>Running now:</strong> " + fmt.Sprintf(`<a href="/releases/%d">2.0</a>`, v2.ID), "failed</span>",
		"<strong>Waiting rollbacks:</strong>", fmt.Sprintf(`<a href="/releases/%d">release %d</a>`, v2.ID, v2.ID),
		fmt.Sprintf(`<td><a href="/releases/%d">%d</a></td><td>1.0</td>`, v1.ID, v1.ID),
		`<a href="/services/web/revisions/1">1</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("service page lacks %q", want)
		}
	}
	if code, page, _ = b.get("/services/nope"); code != http.StatusNotFound || !strings.Contains(page, "not_found") {
		t.Errorf("unknown service: %d\n%s", code, page)
	}
}

func TestRevisionPageShowsTheLineDiff(t *testing.T) {
	f := newFixture(t)
	admin := f.svcAPI("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(svcWebService)); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(svcWebService, "delay_seconds: 3600", "delay_seconds: 60", 1) + "  # <script>alert(1)</script>\n"
	if _, err := admin.Apply(ctx, "web.yaml", []byte(changed)); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.login("viewer")
	code, page, _ := b.get("/services/web/revisions/2")
	if code != 200 {
		t.Fatalf("revision 2: %d\n%s", code, page)
	}
	for _, want := range []string{
		"<strong>1</strong> lines removed (−), <strong>2</strong> lines added (+)",
		`<td class="mark" aria-label="removed">−</td><td class="old"><del>      rollback: {enabled: true, check_target: pipeline, delay_seconds: 3600}</del>`,
		`<td class="mark" aria-label="added">+</td><td class="new"><ins>      rollback: {enabled: true, check_target: pipeline, delay_seconds: 60}</ins>`,
		`<ins>  # &lt;script&gt;alert(1)&lt;/script&gt;</ins>`,
		`<a href="/services/web/revisions/1">revision 1</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("revision page lacks %q\n", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Fatal("the source is not escaped")
	}
	_, page, _ = b.get("/services/web/revisions/1")
	if !strings.Contains(page, "The first revision: every line is new.") || !strings.Contains(page, `<a href="/services/web/revisions/2">revision 2</a>`) {
		t.Errorf("revision 1:\n%s", page)
	}
	for path, status := range map[string]int{"/services/web/revisions/0": 400, "/services/web/revisions/x": 400, "/services/web/revisions/9": 404} {
		if code, _, _ := b.get(path); code != status {
			t.Errorf("%s: %d, want %d", path, code, status)
		}
	}
}

// When a pending release comes from another service file revision than
// the release running now, its pipeline and policy change too; the release
// page says so only as digests, so it links to the service file's line diff
// between the two revisions, where the approver reads what changed. The
// revision page compares with any other revision when asked (?against=N).
func TestReleasePageLinksToTheServiceFileChanges(t *testing.T) {
	f := newFixture(t)
	admin := f.svcAPI("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(svcWebService)); err != nil {
		t.Fatal(err)
	}
	running := f.svcRelease(t, "prod", "1.0")
	f.svcRunJobs(t, 0)
	// Two more revisions: the release compares revision 3 with 1.
	for _, delay := range []string{"600", "60"} {
		changed := strings.Replace(svcWebService, "delay_seconds: 3600", "delay_seconds: "+delay, 1)
		if _, err := admin.Apply(ctx, "web.yaml", []byte(changed)); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "2.0.tar")
	os.WriteFile(p, []byte("2.0"), 0o644)
	pending, err := f.svcAPI("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "2.0", Artifact: p})
	if err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.login("dave")
	_, page, _ := b.get(fmt.Sprintf("/releases/%d", pending.ID))
	mustContain(t, page, fmt.Sprintf(`<a href="/releases/%d">release %d</a>`, running.ID, running.ID),
		`<a href="/services/web/revisions/3?against=1">what changed in the service file from revision 1 to 3</a>`)

	code, page, _ := b.get("/services/web/revisions/3?against=1")
	if code != 200 {
		t.Fatalf("revision 3 against 1: %d\n%s", code, page)
	}
	mustContain(t, page, "Against revision 1 ",
		`<del>      rollback: {enabled: true, check_target: pipeline, delay_seconds: 3600}</del>`,
		`<ins>      rollback: {enabled: true, check_target: pipeline, delay_seconds: 60}</ins>`)
	for path, status := range map[string]int{"/services/web/revisions/3?against=3": 400, "/services/web/revisions/3?against=x": 400, "/services/web/revisions/3?against=9": 404} {
		if code, _, _ := b.get(path); code != status {
			t.Errorf("%s: %d, want %d", path, code, status)
		}
	}
}

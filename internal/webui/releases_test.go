package webui_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/testutil"
)

// awaitingPart is the "Waiting for your approval" section of a list page.
func awaitingPart(page string) string {
	i := strings.Index(page, `id="awaiting"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "</section>")
	return page[i : i+j]
}

func TestReleasesListWaitingForYourApproval(t *testing.T) {
	f := newFixture(t)
	_, v := pendingProd(t, f)
	link := fmt.Sprintf(`<a href="/releases/%d">%d</a>`, v.ID, v.ID)

	dave := f.browser(t)
	dave.login("dave")
	_, page, _ := dave.get("/releases")
	if part := awaitingPart(page); !strings.Contains(part, "Waiting for your approval") || !strings.Contains(part, link) {
		t.Fatalf("dave's list does not show the release waiting for him:\n%s", page)
	}
	viewer := f.browser(t)
	viewer.login("viewer")
	_, page, _ = viewer.get("/releases")
	if strings.Contains(page, "Waiting for your approval") {
		t.Fatalf("a viewer is shown releases waiting for approval:\n%s", page)
	}
	if !strings.Contains(page, link) {
		t.Fatal("the viewer's list lacks the release")
	}
	// carol created it: it does not wait for her.
	carol := f.browser(t)
	carol.login("carol")
	_, page, _ = carol.get("/releases")
	if part := awaitingPart(page); strings.Contains(part, link) || !strings.Contains(part, "Nothing waits for your approval.") {
		t.Fatalf("carol's own release waits for her:\n%s", part)
	}
	// Once dave approved, it no longer waits for him.
	if _, err := f.client("dave").Approve(ctx, v.ID, v.Digest, ""); err != nil {
		t.Fatal(err)
	}
	_, page, _ = dave.get("/releases")
	if part := awaitingPart(page); strings.Contains(part, link) {
		t.Fatalf("a release dave approved still waits for him:\n%s", part)
	}
}

func TestReleasesListFilters(t *testing.T) {
	f := newFixture(t)
	running, pending := pendingProd(t, f)
	dev, err := f.client("admin").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "dev", Version: "0.9", Artifact: artifact(t, "dev")})
	if err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.login("viewer")
	row := func(id int64) string { return fmt.Sprintf(`<tr><td><a href="/releases/%d">%d</a>`, id, id) }
	for q, want := range map[string][]int64{
		"":                            {running.ID, pending.ID, dev.ID},
		"?environment=prod":           {running.ID, pending.ID},
		"?who=carol":                  {pending.ID},
		"?state=succeeded":            {running.ID},
		"?service=web&who=admin":      {running.ID, dev.ID},
		"?service=other":              {},
		"?environment=dev&who=nobody": {},
	} {
		code, page, _ := b.get("/releases" + q)
		if code != 200 {
			t.Fatalf("%s: %d\n%s", q, code, page)
		}
		for _, id := range []int64{running.ID, pending.ID, dev.ID} {
			if got, wanted := strings.Contains(page, row(id)), contains(want, id); got != wanted {
				t.Errorf("%s: release %d listed %v, want %v", q, id, got, wanted)
			}
		}
		if len(want) == 0 && !strings.Contains(page, "No releases match.") {
			t.Errorf("%s: no word that nothing matches", q)
		}
	}
	// The chosen filters stay in the form.
	_, page, _ := b.get("/releases?state=succeeded&who=carol")
	mustContain(t, page, `<option value="succeeded" selected>succeeded</option>`, `name="who" value="carol"`)
	// A state that does not exist is the API's 400, in words.
	code, page, _ := b.get("/releases?state=bogus")
	if code != http.StatusBadRequest || !strings.Contains(page, "is not a release state") {
		t.Fatalf("a bad state: %d\n%s", code, page)
	}
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestReleasesListPages(t *testing.T) {
	f := newFixture(t)
	testutil.MustApply(t, f.db, webService)
	var ids []int64
	for i := range 55 {
		ids = append(ids, testutil.InsertRawRelease(t, f.db, "web", "dev", func(c *shipgate.ReleaseContent) { c.Version = fmt.Sprintf("1.%d", i) }))
	}
	b := f.browser(t)
	b.login("viewer")
	_, page, _ := b.get("/releases")
	newest, oldest := ids[len(ids)-1], ids[0]
	if !strings.Contains(page, fmt.Sprintf(`href="/releases/%d"`, newest)) || strings.Contains(page, fmt.Sprintf(`href="/releases/%d"`, oldest)) {
		t.Fatal("the first page is not the newest 50")
	}
	next := fmt.Sprintf(`href="/releases?before=%d"`, ids[len(ids)-50])
	if !strings.Contains(page, next) || !strings.Contains(page, "Older releases") {
		t.Fatalf("no link to older releases (%s)", next)
	}
	_, page, _ = b.get(fmt.Sprintf("/releases?before=%d", ids[len(ids)-50]))
	for _, id := range ids[:5] {
		if !strings.Contains(page, fmt.Sprintf(`href="/releases/%d"`, id)) {
			t.Errorf("the second page lacks release %d", id)
		}
	}
	if strings.Contains(page, "Older releases") {
		t.Error("the last page links to older releases")
	}
	// An older page links back to the newest, with its filters.
	_, page, _ = b.get(fmt.Sprintf("/releases?before=%d&environment=dev", ids[len(ids)-50]))
	if !strings.Contains(page, `<a href="/releases?environment=dev">← Newest releases</a>`) {
		t.Error("an older page has no way back to the newest releases")
	}
	// The filters carry over to the older page.
	_, page, _ = b.get("/releases?environment=dev")
	if !strings.Contains(page, fmt.Sprintf(`href="/releases?before=%d&amp;environment=dev"`, ids[len(ids)-50])) {
		t.Error("the older link drops the filter")
	}
}

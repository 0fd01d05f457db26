package webui_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// seedAudit appends n events by actor pat on release/7 and one by quinn on
// service/web, and returns the head seq.
func seedAudit(t *testing.T, f *fixture, n int) int64 {
	t.Helper()
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		var evs []shipgate.AuditEvent
		for i := range n {
			evs = append(evs, shipgate.NewAuditEvent("pat", "test.ping", "release/7", map[string]any{"i": i, "note": "<b>not html</b>"}))
		}
		evs = append(evs, shipgate.NewAuditEvent("quinn", "service.applied", "service/web", nil))
		return tx.Audit(ctx, evs...)
	})
	return f.lastEvent(t).Seq
}

var seqCell = regexp.MustCompile(`<tr id="seq-(\d+)">`)

func seqsOf(page string) []string {
	var out []string
	for _, m := range seqCell.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

var olderLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">Older events`)

func TestAuditPageNewestFirstPaginatedAndFiltered(t *testing.T) {
	f := newFixture(t)
	head := seedAudit(t, f, 120)
	b := f.browser(t)
	b.login("viewer")
	head++ // the login

	code, page, _ := b.get("/audit")
	if code != 200 {
		t.Fatalf("audit page: %d\n%s", code, page)
	}
	seqs := seqsOf(page)
	if len(seqs) != 50 || seqs[0] != fmt.Sprint(head) || seqs[49] != fmt.Sprint(head-49) {
		t.Fatalf("first page: %d rows from %v to %v, want 50 from %d", len(seqs), seqs[0], seqs[len(seqs)-1], head)
	}
	if !strings.Contains(page, "session.started") || !strings.Contains(page, fmt.Sprintf("head is seq <strong>%d</strong>", head)) {
		t.Fatal("the page does not show the newest event (the login) or the head")
	}
	// Details are readable, and escaped.
	if !strings.Contains(page, "&#34;note&#34;: &#34;&lt;b&gt;not html&lt;/b&gt;&#34;") || strings.Contains(page, "<b>not html") {
		t.Fatal("details are not shown indented and escaped")
	}
	// A release subject links to its page.
	if !strings.Contains(page, `<a href="/releases/7">release/7</a>`) {
		t.Fatal("no link from release/7 to its page")
	}
	// The older page continues where this one stopped.
	m := olderLink.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no link to older events")
	}
	_, page, _ = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if seqs := seqsOf(page); len(seqs) != 50 || seqs[0] != fmt.Sprint(head-50) {
		t.Fatalf("second page starts at %v, want %d", seqs[0], head-50)
	}
	// Starting at a seq.
	_, page, _ = b.get("/audit?from=10")
	if seqs := seqsOf(page); len(seqs) != 10 || seqs[0] != "10" || seqs[9] != "1" {
		t.Fatalf("from=10: %v", seqs)
	}
	if olderLink.MatchString(page) {
		t.Fatal("the last page links to older events")
	}

	// Filters: actor, action prefix, subject; pages keep the filter.
	_, page, _ = b.get("/audit?actor=quinn")
	if seqs := seqsOf(page); len(seqs) != 1 || !strings.Contains(page, "service.applied") {
		t.Fatalf("actor=quinn: %v", seqs)
	}
	_, page, _ = b.get("/audit?action=test.&subject=release/7")
	if seqs := seqsOf(page); len(seqs) != 50 {
		t.Fatalf("action=test. subject=release/7: %d rows", len(seqs))
	}
	m = olderLink.FindStringSubmatch(page)
	if m == nil || !strings.Contains(m[1], "action=test.") || !strings.Contains(m[1], "subject=release%2F7") {
		t.Fatalf("the older link drops the filter: %v", m)
	}
	_, page, _ = b.get("/audit?action=release.")
	if seqs := seqsOf(page); len(seqs) != 0 || !strings.Contains(page, "No events match these filters.") {
		t.Fatalf("action=release.: %v", seqs)
	}
	// Time range: nothing from the future, everything until then.
	_, page, _ = b.get("/audit?since=2999-01-01T00:00")
	if len(seqsOf(page)) != 0 {
		t.Fatal("events from the future")
	}
	_, page, _ = b.get("/audit?until=2999-01-01T00:00&actor=pat")
	if len(seqsOf(page)) != 50 {
		t.Fatal("until the future misses events")
	}
	// Bad input: a clear error, status 400.
	for _, q := range []string{"since=yesterday", "from=-3", "actor=" + strings.Repeat("x", 300)} {
		code, page, _ = b.get("/audit?" + q)
		if code != http.StatusBadRequest || !strings.Contains(page, "invalid") {
			t.Errorf("%s: %d\n%s", q, code, page)
		}
	}
}

func TestAuditVerifyShowsOKThenWhereTheChainBreaks(t *testing.T) {
	f := newFixture(t)
	seedAudit(t, f, 5)
	b := f.browser(t)
	b.login("viewer")
	head := f.lastEvent(t)
	code, page, _ := b.get("/audit/verify")
	if code != 200 || !strings.Contains(page, "Chain OK:") || !strings.Contains(page, fmt.Sprintf("seq <strong>%d</strong>, hash <code>%s</code>", head.Seq, head.Hash)) {
		t.Fatalf("verify: %d\n%s", code, page)
	}
	if !strings.Contains(page, "it took") || !strings.Contains(page, "no audit signing key") {
		t.Fatal("the page does not say how long it took, or that the server signs nothing")
	}
	// Someone with database access edits an event.
	victim := head.Seq - 3
	raw := testutil.RawDB(t, f.db)
	if _, err := raw.Exec(`DROP TRIGGER audit_events_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit_events SET details = '{"i":99}' WHERE seq = ?`, victim); err != nil {
		t.Fatal(err)
	}
	_, page, _ = b.get("/audit/verify")
	if !strings.Contains(page, "Chain BROKEN:") || !strings.Contains(page, fmt.Sprintf("audit chain broken at seq %d: content does not match its hash (edited)", victim)) {
		t.Fatalf("tampered chain:\n%s", page)
	}
	if !strings.Contains(page, fmt.Sprintf("The %d events up to seq %d", victim-1, victim-1)) {
		t.Fatal("the page does not say what verified before the break")
	}
}

func TestAuditVerifyShowsTheLatestSignedCheckpoint(t *testing.T) {
	f := newFixture(t)
	seed := make([]byte, shipgate.AuditSigningKeySize)
	seed[0] = 13
	f.api.AuditSigner, _ = shipgate.NewAuditSigner(seed)
	keyID := f.api.AuditSigner.PublicKey().ID()
	b := f.browser(t)
	csrf := b.login("viewer")
	_, page, _ := b.get("/audit/verify")
	if !strings.Contains(page, "No checkpoint: no audit checkpoint has been signed yet.") || !strings.Contains(page, "Sign the head now") {
		t.Fatalf("before any checkpoint:\n%s", page)
	}
	if code, _, _ := b.post("/audit/checkpoint", url.Values{}); code != http.StatusForbidden {
		t.Fatalf("signing without the CSRF token: %d", code)
	}
	code, _, h := b.post("/audit/checkpoint", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther || h.Get("Location") != "/audit/verify" {
		t.Fatalf("sign: %d %s", code, h.Get("Location"))
	}
	var cp shipgate.AuditCheckpoint
	f.db.View(ctx, func(tx *sqlstore.Tx) error { cp, _, _ = tx.NewestCheckpoint(ctx); return nil })
	_, page, _ = b.get("/audit/verify")
	for _, want := range []string{"Chain OK:", "still holds the latest checkpoint", fmt.Sprintf(`<a href="/audit?from=%d">%d</a>`, cp.Seq, cp.Seq),
		"<code>" + cp.Hash + "</code>", "<code>" + keyID + "</code>", "verified</span> with this server's public key"} {
		if !strings.Contains(page, want) {
			t.Fatalf("checkpoint page lacks %q:\n%s", want, page)
		}
	}
	// A stored checkpoint that the key did not sign is shown as such.
	raw := testutil.RawDB(t, f.db)
	if _, err := raw.Exec(`DROP TRIGGER audit_checkpoints_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit_checkpoints SET hash = ? WHERE seq = ?`, strings.Repeat("0", 64), cp.Seq); err != nil {
		t.Fatal(err)
	}
	_, page, _ = b.get("/audit/verify")
	if !strings.Contains(page, "does not verify</span>") {
		t.Fatalf("a forged checkpoint is not flagged:\n%s", page)
	}
}

package notify_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// Versions, reasons and names reach chat and paging tools inside our own
// sentences. A release stored straight into the database — past the API's
// version rule, as one stored before it would be — proves the escaping at
// the sink on its own: "<!channel>" must not ping a channel, "<url|text>"
// must not disguise a link, and a PagerDuty summary stays one line that
// PagerDuty accepts.
func TestSlackAndPagerDutyTextIsEscaped(t *testing.T) {
	slack, pd := newReceiver(t), newReceiver(t)
	e := newEnv(t,
		config.Sink{Name: "chat", Type: config.SinkSlack, URL: slack.srv.URL, Events: []string{"release.succeeded", "release.failed"}},
		config.Sink{Name: "pd", Type: config.SinkPagerDuty, URL: pd.srv.URL, RoutingKey: "k"})
	hostile := "9.9 <!channel> & <@U024BE7LH> <https://evil.example|the dashboard>\x1b[8m"
	id := testutil.InsertRawRelease(t, e.db, "web", "production", func(c *shipgate.ReleaseContent) { c.Version = hostile })
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error { _, _, err := reconcile.Release(ctx, tx, id); return err })
	if r := e.runJobs(t, id, false); r.State != shipgate.StateSucceeded {
		t.Fatalf("hostile release %s", r.State)
	}
	// A failure whose reason (an agent's words) is long, multi-line and
	// full of markup: its newline stays inside its line, escaped.
	reason := "<!here> step failed\x1b[31m\nsecond line & more " + strings.Repeat("x", 3000)
	failing := testutil.InsertRawRelease(t, e.db, "web", "production", func(c *shipgate.ReleaseContent) { c.Version = "10.0<!everyone>" })
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error { _, _, err := reconcile.Release(ctx, tx, failing); return err })
	a, ok, err := e.disp.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := e.disp.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Reason: reason}); err != nil {
		t.Fatal(err)
	}
	e.drain(t)

	bodies, _ := slack.got()
	if len(bodies) < 2 {
		t.Fatalf("slack got %d messages; want the success and the failure", len(bodies))
	}
	entity := regexp.MustCompile(`&(amp|lt|gt);`)
	var all string
	for _, b := range bodies {
		var msg struct{ Text string }
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(msg.Text, "<>") || strings.Contains(entity.ReplaceAllString(msg.Text, ""), "&") {
			t.Errorf("slack text has unescaped markup: %q", msg.Text)
		}
		if strings.ContainsAny(msg.Text, "\x1b\r") {
			t.Errorf("slack text has control characters: %q", msg.Text)
		}
		if n := utf8.RuneCountInString(msg.Text); n > 3100 {
			t.Errorf("slack text is %d characters long", n)
		}
		all += msg.Text + "\n"
	}
	for _, want := range []string{
		`9.9 &lt;!channel&gt; &amp; &lt;@U024BE7LH&gt; &lt;https://evil.example|the dashboard&gt;\x1b[8m deployed to production`,
		`10.0&lt;!everyone&gt; to production failed: job deploy failed: &lt;!here&gt; step failed\x1b[31m\nsecond line &amp; more xxx`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("slack messages lack %q:\n%s", want, all)
		}
	}

	bodies, _ = pd.got()
	var triggered bool
	for _, b := range bodies {
		var ev struct {
			EventAction string `json:"event_action"`
			Payload     struct{ Summary string }
		}
		json.Unmarshal(b, &ev)
		if ev.EventAction != "trigger" {
			continue
		}
		triggered = true
		s := ev.Payload.Summary
		if n := utf8.RuneCountInString(s); n > 1024 || !strings.HasSuffix(s, "…") {
			t.Errorf("pagerduty summary is %d characters (want at most 1024, cut with …): %q", n, s)
		}
		if strings.ContainsAny(s, "\x1b\r\n") || !strings.Contains(s, `job deploy failed: <!here> step failed\x1b[31m\nsecond line`) {
			t.Errorf("pagerduty summary is not one escaped line: %q", s)
		}
	}
	if !triggered {
		t.Fatalf("no pagerduty trigger among %d events", len(bodies))
	}
}

// What an agent reports (a job's reason) and what is stored past the API's
// rules (a version from before them) sit inside our sentences in chat. A
// newline in such a field must not start a line of its own: Slack shows
// it as a second message line, which can read as a real notification
// ("shipgate: release 5 of web 6.6 deployed to production"). Each field
// stays on the line it is in; only the message's own layout breaks lines.
func TestSlackFieldsCannotStartALine(t *testing.T) {
	slack, pd := newReceiver(t), newReceiver(t)
	e := newEnv(t,
		config.Sink{Name: "chat", Type: config.SinkSlack, URL: slack.srv.URL},
		config.Sink{Name: "pd", Type: config.SinkPagerDuty, URL: pd.srv.URL, RoutingKey: "k"})
	forged := "shipgate: release 5 of web 6.6 deployed to production (release 5)"
	id := testutil.InsertRawRelease(t, e.db, "web", "production", func(c *shipgate.ReleaseContent) { c.Version = "6.6\n" + forged })
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error { _, _, err := reconcile.Release(ctx, tx, id); return err })
	if r := e.runJobs(t, id, false); r.State != shipgate.StateSucceeded {
		t.Fatalf("raw release %s", r.State)
	}
	failing := testutil.InsertRawRelease(t, e.db, "web", "production", func(c *shipgate.ReleaseContent) { c.Version = "6.7" })
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error { _, _, err := reconcile.Release(ctx, tx, failing); return err })
	a, ok, err := e.disp.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	reason := "boom\n" + forged + "\r\n" + forged + "\u2028" + forged + "\u0085" + forged + "\u200b"
	if err := e.disp.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Reason: reason}); err != nil {
		t.Fatal(err)
	}
	e.drain(t)

	bodies, _ := slack.got()
	if len(bodies) < 3 {
		t.Fatalf("slack got %d messages; want at least the start, success and failure", len(bodies))
	}
	var all []string
	for _, b := range bodies {
		var msg struct{ Text string }
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(msg.Text, "\n"); len(lines) != 1 || !strings.HasPrefix(msg.Text, "shipgate: ") {
			t.Errorf("a field started a line of a slack message:\n%s", msg.Text)
		}
		for _, r := range msg.Text {
			if shipgate.UnsafeRune(r) {
				t.Errorf("slack text carries %U raw: %q", r, msg.Text)
			}
		}
		all = append(all, msg.Text)
	}
	for _, want := range []string{
		`web 6.6\nshipgate: release 5 of web 6.6 deployed to production (release 5) deployed to production`,
		`job deploy failed: boom\nshipgate: release 5 of web 6.6 deployed to production (release 5)\r\nshipgate: release 5`,
		`(release 5)\u2028shipgate: release 5`, `(release 5)\u0085shipgate: release 5`, `(release 5)\u200b`,
	} {
		if !strings.Contains(strings.Join(all, "\n"), want) {
			t.Errorf("slack messages lack %q:\n%s", want, strings.Join(all, "\n"))
		}
	}
	bodies, _ = pd.got()
	for _, b := range bodies {
		var ev struct{ Payload struct{ Summary string } }
		json.Unmarshal(b, &ev)
		if strings.ContainsAny(ev.Payload.Summary, "\n\r\u2028\u0085\u200b") {
			t.Errorf("pagerduty summary is not one escaped line: %q", ev.Payload.Summary)
		}
	}
}

// A checkpoint's Slack message has two lines of its own — the sentence and
// the checkpoint as JSON — and its key id cannot add a third; the
// PagerDuty change summary stays one line.
func TestCheckpointTextKeepsItsLines(t *testing.T) {
	q := &notify.Enqueuer{Source: "shipgate/test", Sinks: []config.Sink{
		{Name: "chat", Type: config.SinkSlack, URL: "http://127.0.0.1:1/slack"},
		{Name: "pd", Type: config.SinkPagerDuty, URL: "http://127.0.0.1:1/v2/enqueue", Events: []string{shipgate.ActionAuditCheckpoint}},
	}}
	cp := shipgate.AuditCheckpoint{Seq: 7, Hash: strings.Repeat("ab", 32), At: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), KeyID: "k1\nshipgate: release 5 of web 6.6 deployed\u200b", Signature: "c2ln"}
	out, err := q.CheckpointOutbox(ctx, cp)
	if err != nil || len(out) != 2 {
		t.Fatalf("%d notifications, %v", len(out), err)
	}
	var msg struct{ Text string }
	json.Unmarshal([]byte(out[0].Payload), &msg)
	lines := strings.Split(msg.Text, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "shipgate: audit checkpoint: event seq 7") || !strings.Contains(lines[0], `by key k1\nshipgate: release 5 of web 6.6 deployed\u200b)`) || !strings.HasPrefix(lines[1], "```{") {
		t.Fatalf("slack text:\n%s", msg.Text)
	}
	got, err := shipgate.ParseAuditCheckpoints(strings.NewReader(strings.Trim(lines[1], "`")))
	if err != nil || len(got) != 1 || got[0].KeyID != cp.KeyID || got[0].Hash != cp.Hash {
		t.Fatalf("the checkpoint line reads back as %+v, %v", got, err)
	}
	var change struct{ Payload struct{ Summary string } }
	json.Unmarshal([]byte(out[1].Payload), &change)
	if s := change.Payload.Summary; strings.ContainsAny(s, "\n\u200b") || !strings.Contains(s, `k1\nshipgate`) {
		t.Fatalf("pagerduty change summary %q", s)
	}
}

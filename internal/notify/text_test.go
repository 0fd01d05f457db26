package notify_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
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
	// full of markup.
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
		`10.0&lt;!everyone&gt; to production failed: job deploy failed: &lt;!here&gt; step failed\x1b[31m` + "\nsecond line &amp; more xxx",
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

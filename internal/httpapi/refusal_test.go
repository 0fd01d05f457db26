package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// refusalsOf returns the access.denied events of actor after seq and the
// sum of their counts.
func (f *fixture) refusalsOf(t *testing.T, actor string, after int64) ([]shipgate.AuditEvent, int) {
	t.Helper()
	var out []shipgate.AuditEvent
	sum := 0
	err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{AfterSeq: after, Limit: 10000})
		for _, e := range events {
			if e.Action != shipgate.ActionAccessDenied || e.Actor != actor {
				continue
			}
			var d struct {
				Count int `json:"count"`
			}
			if err := json.Unmarshal(e.Details, &d); err != nil {
				return err
			}
			out = append(out, e)
			sum += d.Count
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, sum
}

func (f *fixture) head(t *testing.T) int64 {
	t.Helper()
	var seq int64
	f.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		seq, _, err = tx.AuditHead(ctx)
		return err
	})
	return seq
}

// A viewer hammering a route it may not use cannot grow the chain by an
// event per request; every refusal still lands in the count.
func TestRepeatedRefusalsAreAggregated(t *testing.T) {
	f := newFixture(t)
	start := f.head(t)
	for i := 0; i < 1000; i++ {
		if status, _ := f.raw(t, "GET", "/api/v1/users", f.tokens["viewer"], nil); status != 403 {
			t.Fatalf("status %d", status)
		}
	}
	// The first refusal is in the log at once, as before.
	if events, sum := f.refusalsOf(t, "viewer", start); len(events) == 0 || sum < 1 {
		t.Fatalf("first refusal not recorded at once: %d events, count %d", len(events), sum)
	}
	if err := f.h.FlushRefusals(ctx); err != nil { // what serve does on shutdown
		t.Fatal(err)
	}
	events, sum := f.refusalsOf(t, "viewer", start)
	if sum != 1000 {
		t.Fatalf("counts sum to %d, want 1000", sum)
	}
	// One window (a minute) of one route: the first refusal, then one
	// event with the rest. A burst that straddles a window edge adds two.
	if len(events) > 4 {
		t.Fatalf("1000 refusals wrote %d events", len(events))
	}
	last := events[len(events)-1]
	var d map[string]any
	json.Unmarshal(last.Details, &d)
	if d["path"] != "/api/v1/users" || d["status"] != float64(403) || d["first_at"] == nil || d["last_at"] == nil {
		t.Fatalf("aggregate details: %s", last.Details)
	}
	if n, err := f.db.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatal(n, err)
	}
}

// Varying the release id does not escape the aggregation: a user gets a
// bounded number of distinct keys per window.
func TestRefusalsAcrossSubjectsAreBounded(t *testing.T) {
	f := newFixture(t)
	start := f.head(t)
	for i := 1; i <= 300; i++ {
		if status, _ := f.raw(t, "POST", fmt.Sprintf("/api/v1/releases/%d/approve", i), f.tokens["viewer"], []byte(`{"digest":"x"}`)); status != 403 {
			t.Fatalf("status %d", status)
		}
	}
	if err := f.h.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	events, sum := f.refusalsOf(t, "viewer", start)
	if sum != 300 {
		t.Fatalf("counts sum to %d, want 300", sum)
	}
	if len(events) > 40 {
		t.Fatalf("300 refusals on 300 releases wrote %d events", len(events))
	}
	// The first ones keep their release as subject, so they show up in
	// that release's timeline.
	if events[0].Subject != "release/1" {
		t.Fatalf("first refusal's subject %q", events[0].Subject)
	}
}

// A burst's count reaches the log when its window ends, even if no
// further refusal comes and the server keeps running.
func TestRefusalCountFlushedAtWindowEnd(t *testing.T) {
	f := newFixture(t)
	f.h.RefusalWindow = 50 * time.Millisecond
	start := f.head(t)
	for i := 0; i < 30; i++ {
		f.raw(t, "GET", "/api/v1/users", f.tokens["viewer"], nil)
	}
	testutil.WaitForNil(t, "the refusal counts to sum to 30", func() error {
		if _, sum := f.refusalsOf(t, "viewer", start); sum != 30 {
			return fmt.Errorf("counts sum to %d", sum)
		}
		return nil
	})
}

func TestAnonymousRefusalsAreAggregated(t *testing.T) {
	f := newFixture(t)
	start := f.head(t)
	for i := 0; i < 200; i++ {
		if status, _ := f.raw(t, "GET", "/api/v1/releases", "sgp_wrong", nil); status != 401 {
			t.Fatalf("status %d", status)
		}
	}
	if err := f.h.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	events, sum := f.refusalsOf(t, "anonymous", start)
	if sum != 200 || len(events) > 4 {
		t.Fatalf("200 anonymous refusals: %d events, counts sum to %d", len(events), sum)
	}
}

// Without a valid token, walking routes from one address is bounded too.
func TestAnonymousRefusalsAcrossRoutesAreBounded(t *testing.T) {
	f := newFixture(t)
	start := f.head(t)
	paths := []string{"/api/v1/releases", "/api/v1/services", "/api/v1/users", "/api/v1/groups", "/api/v1/tokens", "/api/v1/audit", "/api/v1/whoami", "/api/v1/agents"}
	for i := 0; i < 400; i++ {
		f.raw(t, "GET", paths[i%len(paths)], "", nil)
	}
	if err := f.h.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	events, sum := f.refusalsOf(t, "anonymous", start)
	if sum != 400 || len(events) > 10 {
		t.Fatalf("400 anonymous refusals over %d routes: %d events, counts sum to %d", len(paths), len(events), sum)
	}
}

// Anonymous refusals are counted per client network, and only so many
// networks get windows of their own: a party holding many addresses (an
// IPv6 /64, or many networks) cannot grow the chain by an event per
// address. Every refusal still lands in a count.
func TestAnonymousRefusalsFromManyAddressesAreBounded(t *testing.T) {
	f := newFixture(t)
	start := f.head(t)
	send := func(remote string) {
		req := httptest.NewRequest("GET", "/api/v1/releases", nil)
		req.Header.Set("Authorization", "Bearer sgp_wrong")
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		f.api.ServeHTTP(w, req)
		if w.Code != 401 {
			t.Fatalf("status %d from %s", w.Code, remote)
		}
	}
	for i := 0; i < 300; i++ { // one /24, one /64
		send(fmt.Sprintf("203.0.113.%d:1234", i%250+1))
		send(fmt.Sprintf("[2001:db8::%x]:1234", i+1))
	}
	written, _ := f.refusalsOf(t, "anonymous", start)
	if len(written) != 2 {
		t.Fatalf("600 refusals from one /24 and one /64 wrote %d events at once, want 2", len(written))
	}
	start = f.head(t)
	for i := 0; i < 500; i++ { // 500 networks
		send(fmt.Sprintf("10.%d.%d.1:1234", i/250, i%250))
	}
	if written, _ := f.refusalsOf(t, "anonymous", start); len(written) > 65 {
		t.Fatalf("500 refusals from 500 networks wrote %d events at once", len(written))
	}
	if err := f.h.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	events, sum := f.refusalsOf(t, "anonymous", 0)
	if sum != 1100 || len(events) > 2+65*2 {
		t.Fatalf("1,100 anonymous refusals: %d events, counts sum to %d", len(events), sum)
	}
}

// A refusal about a release that does not exist is a refusal, audited,
// also on a server with notification sinks (which once failed the write
// looking the release up, answering 500 and retrying the count forever).
func TestRefusalOfAMissingReleaseWithSinks(t *testing.T) {
	f := newFixture(t)
	f.db.Outbox = (&notify.Enqueuer{Sinks: []config.Sink{{Name: "hook", Type: config.SinkWebhook, URL: "https://hooks.example.com/x"}}}).Outbox
	start := f.head(t)
	if status, out := f.raw(t, "GET", "/api/v1/releases/424242", "sgp_wrong", nil); status != 401 {
		t.Fatalf("bad token on a missing release: %d %v", status, out)
	}
	if status, out := f.raw(t, "POST", "/api/v1/releases/424242/approve", f.tokens["viewer"], []byte(`{"digest":"x"}`)); status != 403 {
		t.Fatalf("viewer approving a missing release: %d %v", status, out)
	}
	if err := f.h.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	for _, actor := range []string{"anonymous", "viewer"} {
		if events, sum := f.refusalsOf(t, actor, start); sum != 1 || events[0].Subject != "release/424242" {
			t.Fatalf("%s's refusal: %d events counting %d", actor, len(events), sum)
		}
	}
}

// A refusal whose event cannot be written (the database refuses the
// write) is still a 403, and is kept in its window's count: once the
// database takes writes again, the flush writes every refusal, the failed
// first one included.
func TestRefusalCountSurvivesAFailedWrite(t *testing.T) {
	f := newFixture(t)
	raw := testutil.RawDB(t, f.db)
	if _, err := raw.Exec(`CREATE TRIGGER refuse_viewer BEFORE INSERT ON audit_events WHEN NEW.actor = 'viewer' BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	start := f.head(t)
	for i := 0; i < 3; i++ {
		if status, out := f.raw(t, "GET", "/api/v1/users", f.tokens["viewer"], nil); status != 403 {
			t.Fatalf("refusal %d while the log refuses writes: %d %v", i, status, out)
		}
	}
	if err := f.h.FlushRefusals(ctx); err == nil {
		t.Fatal("the flush wrote into a log that refuses writes")
	}
	if _, sum := f.refusalsOf(t, "viewer", start); sum != 0 {
		t.Fatalf("%d refusals written while the log refused writes", sum)
	}
	if _, err := raw.Exec(`DROP TRIGGER refuse_viewer`); err != nil {
		t.Fatal(err)
	}
	if err := f.h.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	if _, sum := f.refusalsOf(t, "viewer", start); sum != 3 {
		t.Fatalf("after the log takes writes again: %d refusals written, want all 3", sum)
	}
}

package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// appendEvents writes n events to the log.
func (f *fixture) appendEvents(t *testing.T, n int) {
	t.Helper()
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		events := make([]shipgate.AuditEvent, n)
		for i := range events {
			events[i] = shipgate.NewAuditEvent("alice", shipgate.ActionReleaseApproved, fmt.Sprintf("release/%d", i/3+1),
				map[string]any{"i": i, "comment": "<looks> \"good\" & ünïcode\n"})
		}
		return tx.Audit(ctx, events...)
	})
}

// countingServer serves f.api (checked against the OpenAPI document) and
// counts requests per path.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, map[string]*atomic.Int64) {
	counts := map[string]*atomic.Int64{"/api/v1/audit": {}, "/api/v1/audit/stream": {}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := counts[r.URL.Path]; c != nil {
			c.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, counts
}

// audit verify reads the chain as one stream, and a chain edited, cut,
// reordered or with an event deleted still fails naming the seq.
func TestAuditStreamVerify(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) { testAuditStreamVerify(t, engine) })
	}
}

func testAuditStreamVerify(t *testing.T, engine string) {
	f := newFixtureOn(t, engine)
	f.appendEvents(t, 40)
	srv, counts := countingServer(t, f.api)
	c := client.New(srv.URL, f.tokens["viewer"])
	n, err := c.VerifyAudit(ctx)
	head := f.head(t)
	if err != nil || n != head {
		t.Fatalf("verified %d of %d: %v", n, head, err)
	}
	if counts["/api/v1/audit/stream"].Load() != 1 || counts["/api/v1/audit"].Load() != 0 {
		t.Fatalf("verify made %d stream and %d page requests, want one stream", counts["/api/v1/audit/stream"].Load(), counts["/api/v1/audit"].Load())
	}
	// export reads the stream too, and gives every event as stored.
	var exported []shipgate.AuditEvent
	if _, _, err := c.EachAuditEvent(ctx, shipgate.AuditFilter{}, func(e *shipgate.AuditEvent) error { exported = append(exported, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if int64(len(exported)) != head || exported[9].Hash != f.eventAt(t, 10).Hash || string(exported[9].Details) != string(f.eventAt(t, 10).Details) {
		t.Fatalf("exported %d events; seq 10 = %+v", len(exported), exported[9])
	}

	raw := testutil.RawDB(t, f.db)
	guards := map[string][]string{
		"sqlite":   {`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`},
		"postgres": {`DROP TRIGGER audit_events_append_only ON audit_events`},
	}[engine]
	for _, s := range guards {
		if _, err := raw.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(q string) {
		t.Helper()
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	mustFail := func(want string) {
		t.Helper()
		if _, err := c.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("verify: %v, want it to contain %q", err, want)
		}
	}
	exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 12`)
	mustFail("audit chain broken at seq 12: content does not match")
	exec(`UPDATE audit_events SET actor = 'alice' WHERE seq = 12`)
	exec(`UPDATE audit_events SET details = replace(details, 'good', 'bad') WHERE seq = 13`)
	mustFail("audit chain broken at seq 13:")
	exec(`UPDATE audit_events SET details = replace(details, 'bad', 'good') WHERE seq = 13`)
	if _, err := c.VerifyAudit(ctx); err != nil {
		t.Fatalf("restored chain: %v", err)
	}
	exec(`UPDATE audit_events SET seq = -14 WHERE seq = 14`)
	exec(`UPDATE audit_events SET seq = 14 WHERE seq = 15`)
	exec(`UPDATE audit_events SET seq = 15 WHERE seq = -14`)
	mustFail("audit chain broken at seq 14:")
	exec(`UPDATE audit_events SET seq = -14 WHERE seq = 15`)
	exec(`UPDATE audit_events SET seq = 15 WHERE seq = 14`)
	exec(`UPDATE audit_events SET seq = 14 WHERE seq = -14`)
	exec(`DELETE FROM audit_events WHERE seq = 20`)
	mustFail("audit chain broken at seq 20: event missing")
	exec(fmt.Sprintf(`DELETE FROM audit_events WHERE seq >= %d`, head-2))
	mustFail("audit chain broken at seq 20")
}

func (f *fixture) eventAt(t *testing.T, seq int64) shipgate.AuditEvent {
	t.Helper()
	var out []shipgate.AuditEvent
	if err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListAudit(ctx, shipgate.AuditFilter{AfterSeq: seq - 1, Limit: 1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// A stream cut off — between lines or inside one, before its end line —
// is an error, never a verified chain.
func TestAuditStreamCut(t *testing.T) {
	f := newFixture(t)
	f.appendEvents(t, 30)
	var whole bytes.Buffer
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/audit/stream", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
	f.api.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("stream: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	whole.Write(rec.Body.Bytes())
	lines := strings.SplitAfter(whole.String(), "\n")
	if !strings.HasPrefix(lines[0], `{"head":{"seq":`) || !strings.HasPrefix(lines[len(lines)-2], `{"end":{"events":`) {
		t.Fatalf("stream is not head, events, end:\n%s", whole.String())
	}
	for name, body := range map[string]string{
		"end line missing":    strings.Join(lines[:len(lines)-2], ""),
		"half the events":     strings.Join(lines[:15], ""),
		"inside a line":       strings.Join(lines[:10], "") + lines[10][:40],
		"head only":           lines[0],
		"nothing":             "",
		"end line of too few": strings.Join(lines[:10], "") + lines[len(lines)-2],
		"an error mid-stream": strings.Join(lines[:10], "") + `{"error":{"code":"internal","message":"disk on fire"}}` + "\n",
		"something after end": whole.String() + lines[3],
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				w.Write([]byte(body))
			}))
			defer srv.Close()
			n, err := client.New(srv.URL, "x").VerifyAudit(ctx)
			if err == nil {
				t.Fatalf("a cut stream verified %d events", n)
			}
			t.Log(err)
		})
	}
}

// The stream is read like GET /audit: a token is needed, the read
// permission suffices, and bad parameters are refused before any line.
func TestAuditStreamAccess(t *testing.T) {
	f := newFixture(t)
	f.appendEvents(t, 3)
	for _, tc := range []struct {
		token, query string
		status       int
	}{
		{"", "", 401},
		{"not-a-token", "", 401},
		{f.tokens["viewer"], "", 200},
		{f.tokens["viewer"], "?after=x", 400},
		{f.tokens["viewer"], "?limit=-1", 400},
		{f.tokens["viewer"], "?since=yesterday", 400},
	} {
		if status, out := f.raw(t, "GET", "/api/v1/audit/stream"+tc.query, tc.token, nil); status != tc.status {
			t.Errorf("token %q query %q: %d %v, want %d", tc.token, tc.query, status, out, tc.status)
		}
	}
	for _, rt := range f.h.Routes() {
		if rt.Path == "/api/v1/audit/stream" && rt.Perm != shipgate.PermRead {
			t.Errorf("the stream needs %q, GET /audit needs read", rt.Perm)
		}
	}
	// limit and after bound the stream; more says there is more.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/audit/stream?after=1&limit=2", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
	f.api.ServeHTTP(rec, req)
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], `{"seq":2,`) || lines[3] != `{"end":{"events":2,"last_seq":3,"more":true}}` {
		t.Fatalf("after=1&limit=2:\n%s", rec.Body)
	}
}

// Against a server from before the stream, the client pages as before.
func TestAuditStreamFallback(t *testing.T) {
	f := newFixture(t)
	f.appendEvents(t, 20)
	old := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/audit/stream" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			w.Write([]byte(`{"error":{"code":"not_found","message":"no API route GET /api/v1/audit/stream"}}`))
			return
		}
		f.api.ServeHTTP(w, r)
	})
	srv, counts := countingServer(t, old)
	n, err := client.New(srv.URL, f.tokens["viewer"]).VerifyAudit(ctx)
	if err != nil || n != f.head(t) || counts["/api/v1/audit"].Load() == 0 {
		t.Fatalf("verified %d of %d with %d page requests: %v", n, f.head(t), counts["/api/v1/audit"].Load(), err)
	}
}

// BenchmarkAuditStreamServer measures the server's side of the CLI path
// alone: GET /api/v1/audit/stream of a 100,000-event chain read to the end
// and thrown away, with nothing decoded or hashed. It bounds what
// BenchmarkAuditVerifyCLI can reach.
func BenchmarkAuditStreamServer(b *testing.B) {
	const n = 100_000
	f := newFixtureOn(b, "sqlite")
	for done := 0; done < n; done += 1000 {
		testutil.Update(b, f.db, func(tx *sqlstore.Tx) error {
			events := make([]shipgate.AuditEvent, 1000)
			for i := range events {
				events[i] = shipgate.NewAuditEvent("alice", shipgate.ActionReleaseApproved, fmt.Sprintf("release/%d", (done+i)/10+1),
					map[string]any{"digest": "sha256:" + shipgate.SHA256Hex([]byte{byte(i)}), "comment": "looks good", "approval_id": done + i})
			}
			return tx.Audit(ctx, events...)
		})
	}
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/audit/stream", nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || got < n*200 {
			b.Fatalf("read %d bytes: %v", got, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// A server that stops sending mid-stream is given up on after the
// client's timeout of silence, and the stream counts as cut.
func TestAuditStreamStalled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write([]byte(`{"head":{"seq":5,"hash":"` + strings.Repeat("a", 64) + `"}}` + "\n"))
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := client.New(srv.URL, "x")
	c.HTTPClient.Timeout = 300 * time.Millisecond // the bound on silence
	_, err := c.VerifyAudit(ctx)
	if err == nil || !strings.Contains(err.Error(), "without its end line") || !strings.Contains(err.Error(), "sent nothing for 300ms") {
		t.Fatalf("stalled stream: %v", err)
	}
}

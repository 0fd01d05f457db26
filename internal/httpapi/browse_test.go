package httpapi_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// The reads the web UI's audit, services and agents pages use, on both
// engines, every exchange checked against openapi.json.
func TestBrowseReads(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) { testBrowseReads(t, engine) })
	}
}

func testBrowseReads(t *testing.T, engine string) {
	f := newFixtureOn(t, engine)
	viewer := f.client("viewer")
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		var evs []shipgate.AuditEvent
		for range 5 {
			evs = append(evs, shipgate.NewAuditEvent("pat", "test.ping_pong", "release/7", nil))
		}
		return tx.Audit(ctx, append(evs, shipgate.NewAuditEvent("quinn", "test_x.ping", "release/8", nil))...)
	})
	head := f.head(t)

	// Audit filters, newest first, pages.
	count := func(f shipgate.AuditFilter) []int64 {
		t.Helper()
		p, err := viewer.Audit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, e := range p.Events {
			seqs = append(seqs, e.Seq)
		}
		return seqs
	}
	if s := count(shipgate.AuditFilter{Newest: true, Limit: 2}); len(s) != 2 || s[0] != head || s[1] != head-1 {
		t.Fatalf("newest first: %v (head %d)", s, head)
	}
	if s := count(shipgate.AuditFilter{Newest: true, BeforeSeq: head, Limit: 1}); len(s) != 1 || s[0] != head-1 {
		t.Fatalf("before: %v", s)
	}
	if s := count(shipgate.AuditFilter{Actor: "pat", Subject: "release/7", ActionPrefix: "test.ping_"}); len(s) != 5 {
		t.Fatalf("pat on release/7: %v", s)
	}
	// "_" is no wildcard: test_x.ping does not start with "test.".
	if s := count(shipgate.AuditFilter{ActionPrefix: "test."}); len(s) != 5 {
		t.Fatalf("action prefix test.: %v", s)
	}
	future := time.Now().Add(time.Hour)
	if s := count(shipgate.AuditFilter{Since: &future}); len(s) != 0 {
		t.Fatalf("since the future: %v", s)
	}
	if s := count(shipgate.AuditFilter{Until: &future, Actor: "quinn"}); len(s) != 1 {
		t.Fatalf("until the future: %v", s)
	}
	for _, q := range []string{"order=up", "before=3", "until=soon"} {
		if status, out := f.raw(t, "GET", "/api/v1/audit?"+q, f.tokens["viewer"], nil); status != 400 || errorCode(out) != shipgate.EINVALID {
			t.Errorf("%s: %d %v", q, status, out)
		}
	}

	// The latest checkpoint: none, then the one signed.
	if _, err := viewer.LatestAuditCheckpoint(ctx); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("no checkpoint yet: %v", err)
	}
	seed := make([]byte, shipgate.AuditSigningKeySize)
	f.h.AuditSigner, _ = shipgate.NewAuditSigner(seed)
	cp, err := viewer.AuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := viewer.LatestAuditCheckpoint(ctx); err != nil || *got != *cp {
		t.Fatalf("latest %+v %v, want %+v", got, err, cp)
	}

	// Environments: what runs, the latest releases, open rollbacks.
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(rollbackAPIService)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "1.0.tar")
	os.WriteFile(p, []byte("1.0"), 0o644)
	r, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1.0", Artifact: p})
	if err != nil {
		t.Fatal(err)
	}
	envs, err := viewer.ServiceEnvironments(ctx, "web")
	if err != nil || len(envs) != 2 || envs[0].Name != "staging" || envs[0].Current != nil || len(envs[0].Recent) != 1 || len(envs[1].Recent) != 0 {
		t.Fatalf("before it ran: %+v %v", envs, err)
	}
	a, ok, err := f.h.Dispatcher.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "agent-9"}})
	if err != nil || !ok {
		t.Fatalf("claim %v %v", ok, err)
	}
	run, err := viewer.Runners(ctx)
	if err != nil || len(run.Running) != 1 || run.Running[0].Runner != "agent-9" || run.Running[0].ReleaseID != r.ID || run.Running[0].Job != a.Key.Job || run.Local != nil {
		t.Fatalf("runners: %+v %v", run, err)
	}
	if err := f.h.Dispatcher.Finish(ctx, "agent-9", a.Key, shipgate.JobOutcome{Succeeded: true}); err != nil {
		t.Fatal(err)
	}
	f.run(t, 0)
	envs, _ = viewer.ServiceEnvironments(ctx, "web")
	if envs[0].Current == nil || envs[0].Current.ID != r.ID || len(envs[0].Rollbacks) != 0 {
		t.Fatalf("after it ran: %+v", envs[0])
	}
	if _, err := viewer.ServiceEnvironments(ctx, "nope"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("unknown service: %v", err)
	}
	if run, _ := viewer.Runners(ctx); len(run.Running) != 0 {
		t.Fatalf("nothing runs: %+v", run)
	}
}

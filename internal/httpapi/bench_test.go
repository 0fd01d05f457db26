package httpapi_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopPostgres()
	os.Exit(code)
}

// BenchmarkCreateRelease measures releases prepared per second through the
// HTTP API (authenticate, hash the artifact, freeze pipeline and policy,
// digest, insert, audit, reconcile) with 8 concurrent clients. In "pending"
// the environment needs an approval, so releases wait for it; in "queued"
// none is needed, so each release queues behind the first (no runner is
// started) and the reconciler looks up the release ahead of it each time.
// Both pin one artifact the store holds after the first release (as
// promoting a version from staging to production does); "fresh" is
// "pending" with new artifact bytes every time, each stored and fsynced.
func BenchmarkCreateRelease(b *testing.B) {
	for _, engine := range testutil.Engines {
		for _, mode := range []string{"pending", "queued", "fresh"} {
			b.Run(engine+"/"+mode, func(b *testing.B) {
				f := newFixtureOn(b, engine)
				svc := testutil.ServiceYAML
				if mode != "queued" {
					svc = strings.Replace(svc, "approvals: { required: 0 }", "approvals: { required: 1 }", 1)
				}
				if _, err := f.client("admin").Apply(ctx, "svc.yaml", []byte(svc)); err != nil {
					b.Fatal(err)
				}
				art := filepath.Join(b.TempDir(), "app.tar")
				os.WriteFile(art, make([]byte, 64<<10), 0o644)
				var n atomic.Int64
				b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 clients
				b.ResetTimer()
				var clients atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					c := f.client("carol")
					art := art
					if mode == "fresh" {
						art = filepath.Join(b.TempDir(), fmt.Sprintf("app-%d.tar", clients.Add(1)))
					}
					body := make([]byte, 64<<10)
					for i := 0; pb.Next(); i++ {
						if mode == "fresh" {
							binary.BigEndian.PutUint64(body, uint64(i))
							os.WriteFile(art, body, 0o644)
						}
						_, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1.0", Artifact: art,
							Inputs: map[string]string{"region": "eu"}})
						if err != nil {
							b.Error(err)
							return
						}
						n.Add(1)
					}
				})
				b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "releases/s")
			})
		}
	}
}

// BenchmarkAuditVerifyCLI measures what `shipgate audit verify` does on a
// 100,000-event chain: page every event over HTTP and recompute the chain
// in the client.
func BenchmarkAuditVerifyCLI(b *testing.B) {
	const n = 100_000
	f := newFixtureOn(b, "sqlite")
	for done := 0; done < n; done += 1000 {
		err := f.db.Update(ctx, func(tx *sqlstore.Tx) error {
			events := make([]shipgate.AuditEvent, 1000)
			for i := range events {
				events[i] = shipgate.NewAuditEvent("alice", shipgate.ActionReleaseApproved, fmt.Sprintf("release/%d", (done+i)/10+1),
					map[string]any{"digest": "sha256:" + shipgate.SHA256Hex([]byte{byte(i)}), "comment": "looks good", "approval_id": done + i})
			}
			return tx.Audit(ctx, events...)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	total, _ := f.db.VerifyAudit(ctx)
	c := f.client("viewer")
	b.ResetTimer()
	for b.Loop() {
		got, err := c.VerifyAudit(ctx)
		if err != nil || got != total {
			b.Fatalf("verified %d of %d: %v", got, total, err)
		}
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

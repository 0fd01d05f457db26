package sqlstore_test

import (
	"fmt"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// BenchmarkVerifyAudit measures `audit verify` work on a 100,000-event
// chain: read every event from the database and recompute every hash.
func BenchmarkVerifyAudit(b *testing.B) {
	const n = 100_000
	for _, engine := range testutil.Engines {
		b.Run(engine, func(b *testing.B) {
			db := testutil.NewStore(b, engine)
			for done := 0; done < n; done += 1000 {
				err := db.Update(ctx, func(tx *sqlstore.Tx) error {
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
			b.ResetTimer()
			for b.Loop() {
				got, err := db.VerifyAudit(ctx)
				if err != nil || got != n {
					b.Fatalf("verified %d: %v", got, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkCheckpoint measures what the background signer does once a
// minute on a busy server: the head moved by 10,000 events since the last
// checkpoint, and signing it means reading and re-verifying that stretch
// (so a rewritten log is never signed), then signing and storing the new
// checkpoint in one write transaction.
func BenchmarkCheckpoint(b *testing.B) {
	const moved = 10_000
	for _, engine := range testutil.Engines {
		b.Run(engine, func(b *testing.B) {
			db := testutil.NewStore(b, engine)
			seed := make([]byte, shipgate.AuditSigningKeySize)
			signer, err := shipgate.NewAuditSigner(seed)
			if err != nil {
				b.Fatal(err)
			}
			appendEvents := func(n int) {
				for done := 0; done < n; done += 1000 {
					err := db.Update(ctx, func(tx *sqlstore.Tx) error {
						events := make([]shipgate.AuditEvent, 1000)
						for i := range events {
							events[i] = shipgate.NewAuditEvent("alice", shipgate.ActionReleaseApproved, fmt.Sprintf("release/%d", i+1),
								map[string]any{"digest": "sha256:" + shipgate.SHA256Hex([]byte{byte(i)}), "comment": "looks good", "approval_id": done + i})
						}
						return tx.Audit(ctx, events...)
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			appendEvents(1000)
			if _, _, err := db.Checkpoint(ctx, signer); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				appendEvents(moved)
				b.StartTimer()
				if _, _, err := db.Checkpoint(ctx, signer); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/checkpoint")
		})
	}
}

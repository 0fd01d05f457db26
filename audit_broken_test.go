package shipgate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// A broken chain names its first broken seq and the last event the
// verifier vouches for, with its hash: what `audit verify -o json` prints.
func TestAuditChainBrokenNamesTheLastGoodEvent(t *testing.T) {
	good := chain(5)
	head := good[4]
	for _, tt := range []struct {
		name     string
		f        func(c []shipgate.AuditEvent) []shipgate.AuditEvent
		headSeq  int64
		headHash string
		seq      int64
		lastGood int64
		hash     string
	}{
		{"edited in the middle", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { c[2].Actor = "mallory"; return c }, 5, head.Hash, 3, 2, good[1].Hash},
		{"the first edited", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { c[0].Actor = "mallory"; return c }, 5, head.Hash, 1, 0, shipgate.GenesisHash},
		{"deleted", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { return append(c[:1], c[2:]...) }, 5, head.Hash, 2, 1, good[0].Hash},
		{"tail cut", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { return c[:3] }, 5, head.Hash, 4, 3, good[2].Hash},
		{"head hash differs", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { return c }, 5, good[0].Hash, 5, 4, good[3].Hash},
		{"head hash differs on a chain of one", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { return c[:1] }, 1, good[1].Hash, 1, 0, shipgate.GenesisHash},
		{"past the head", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { return c }, 3, good[2].Hash, 4, 3, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := make([]shipgate.AuditEvent, len(good))
			copy(c, good)
			err := verifyChain(tt.f(c), tt.headSeq, tt.headHash)
			var b *shipgate.AuditChainBroken
			if !errors.As(err, &b) {
				t.Fatalf("err = %v (%T), want *AuditChainBroken", err, err)
			}
			if b.Seq != tt.seq || b.LastGoodSeq != tt.lastGood || b.LastGoodHash != tt.hash {
				t.Fatalf("broken at %d, last good %d %q; want %d, %d %q (%v)", b.Seq, b.LastGoodSeq, b.LastGoodHash, tt.seq, tt.lastGood, tt.hash, err)
			}
		})
	}
}

// A checkpoint that exposes a rewrite makes the newest checkpoint that
// still holds the last good event: the events after it may have been
// rewritten with their hashes recomputed.
func TestAuditChainRewriteLastGoodIsTheCheckpoint(t *testing.T) {
	signer, _ := shipgate.NewAuditSigner(make([]byte, shipgate.AuditSigningKeySize))
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	good := chain(5)
	rewritten := chain(5)
	// Recompute from seq 3 with another actor, as an intruder would.
	prev := rewritten[1].Hash
	for i := 2; i < 5; i++ {
		e := &rewritten[i]
		e.Actor, e.PrevHash = "mallory", prev
		e.Hash, _ = e.ComputeHash()
		prev = e.Hash
	}
	var v shipgate.AuditVerifier
	if err := v.Anchor([]shipgate.AuditPublicKey{signer.PublicKey()}, []shipgate.AuditCheckpoint{signer.Sign(2, good[1].Hash, at), signer.Sign(4, good[3].Hash, at)}); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := range rewritten {
		if err = v.Add(&rewritten[i]); err != nil {
			break
		}
	}
	var b *shipgate.AuditChainBroken
	if !errors.As(err, &b) || b.Seq != 4 || b.LastGoodSeq != 2 || b.LastGoodHash != good[1].Hash {
		t.Fatalf("rewrite: %v %+v", err, b)
	}
}

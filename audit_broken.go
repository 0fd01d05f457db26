package shipgate

import "fmt"

// AuditChainBroken is the error of a verification that found the chain
// broken. Seq is the first broken seq; LastGoodSeq and LastGoodHash name
// the last event the verifier can vouch for (seq 0 and GenesisHash when
// none), the point a person records and restores from. LastGoodHash is
// empty when the verifier no longer holds it (an event past the recorded
// head, which a reader that stops at the head never sees).
type AuditChainBroken struct {
	Seq          int64
	LastGoodSeq  int64
	LastGoodHash string
	// Problem says what is wrong at Seq, in words.
	Problem string
}

func (e *AuditChainBroken) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Problem)
}

// broken returns the error for a break at seq, after the last event the
// verifier accepted.
func (v *AuditVerifier) broken(seq int64, format string, args ...any) *AuditChainBroken {
	hash := v.lastHash
	if v.n == 0 && !v.resumed {
		hash = GenesisHash
	}
	return &AuditChainBroken{Seq: seq, LastGoodSeq: v.lastSeq, LastGoodHash: hash, Problem: fmt.Sprintf(format, args...)}
}

// rewritten returns the error for a break a checkpoint exposed: events
// after the newest checkpoint that still holds may have been rewritten
// with their hashes recomputed, so that checkpoint is the last good event.
func (v *AuditVerifier) rewritten(seq int64, format string, args ...any) *AuditChainBroken {
	b := &AuditChainBroken{Seq: seq, LastGoodHash: GenesisHash, Problem: fmt.Sprintf(format, args...)}
	if c := v.newestAnchor; c != nil {
		b.LastGoodSeq, b.LastGoodHash = c.Seq, c.Hash
	}
	return b
}

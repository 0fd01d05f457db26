package reconcile

import (
	"errors"
	"testing"

	"github.com/shipgate/shipgate"
)

// A claim that does not wait, answered by a pass that failed, carries the
// pass's error to its caller instead of "no work" (hostile review of issue
// 12); a waiting claim stays for the next pass.
func TestFailedPassAnswersOneShotClaimsWithItsError(t *testing.T) {
	var q waitQueue
	once := q.add(shipgate.ClaimRequest{}, false, func() {})
	waits := q.add(shipgate.ClaimRequest{}, true, func() {})
	batch := q.reserve()
	boom := errors.New("database is locked")
	q.settle(batch, make([]*shipgate.Assignment, len(batch)), boom)
	if a := <-once.result; a != nil || !errors.Is(once.passErr, boom) {
		t.Fatalf("one-shot claim: %v, %v", a, once.passErr)
	}
	if q.len() != 1 || waits.passErr != nil {
		t.Fatalf("the waiting claim: queue %d, err %v", q.len(), waits.passErr)
	}
}

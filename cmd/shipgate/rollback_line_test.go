package main

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// A pending rollback's line counts down to its moment, and once it is due
// says so instead of "fires in 0s" (second newcomer review: with the
// leader just killed the countdown stood at 0s until another server led).
func TestRollbackLineDue(t *testing.T) {
	soon, past := time.Now().Add(90*time.Second), time.Now().Add(-8*time.Second)
	rb := &shipgate.Rollback{State: shipgate.RollbackPending, TargetVersion: "1.0", TargetID: 1, FiresAt: &soon}
	if got := rollbackLine(rb); !strings.Contains(got, "pending: fires in 1m") {
		t.Fatalf("pending: %q", got)
	}
	rb.FiresAt = &past
	if got := rollbackLine(rb); !strings.Contains(got, "pending: due since") || strings.Contains(got, "fires in") {
		t.Fatalf("due: %q", got)
	}
}

package shipgate_test

import (
	"testing"

	"github.com/shipgate/shipgate"
)

// One retry rule: a job runs again while it has attempts left.
func TestJobMayRetry(t *testing.T) {
	for _, c := range []struct {
		attempt, max int
		want         bool
	}{
		{1, 1, false}, // no retries
		{1, 2, true},  // retries: 1, first attempt
		{2, 2, false}, // retries used up
		{0, 1, true},  // handed back before it started
	} {
		j := shipgate.JobRun{Attempt: c.attempt, MaxAttempts: c.max}
		if got := j.MayRetry(); got != c.want {
			t.Errorf("attempt %d of %d: MayRetry %v, want %v", c.attempt, c.max, got, c.want)
		}
	}
}

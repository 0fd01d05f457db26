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

// A job's reason is rendered from the typed end, never written by hand.
func TestJobEndReason(t *testing.T) {
	for _, tt := range []struct {
		end  shipgate.JobEnd
		want string
	}{
		{shipgate.JobEnd{Cause: shipgate.JobCauseLost, Attempt: 1, Runner: "a1"}, "lease expired on agent a1"},
		{shipgate.JobEnd{Cause: shipgate.JobCauseLost, Attempt: 1, Runner: "a1", Retrying: true}, "lease expired on agent a1; retrying"},
		{shipgate.JobEnd{Cause: shipgate.JobCauseStepFailed, Attempt: 2, Detail: "exit status 3"}, "exit status 3"},
		{shipgate.JobEnd{Cause: shipgate.JobCauseStepFailed, Attempt: 2, Detail: "exit status 3", Retrying: true}, "attempt 2 failed: exit status 3; retrying"},
		{shipgate.JobEnd{Cause: shipgate.JobCauseNotStarted, Attempt: 1, Detail: "disk full", Retrying: true}, "attempt 1 was never started: disk full"},
		{shipgate.JobEnd{Cause: shipgate.JobCauseNotStarted, Attempt: 1, Detail: "disk full", HandBacks: 6}, "handed back unstarted 6 times; last: disk full"},
		{shipgate.JobEnd{Cause: shipgate.JobCauseRefused, Detail: "secrets cannot be opened"}, "secrets cannot be opened"},
		{shipgate.JobEnd{Cause: shipgate.JobCauseSkipped, Detail: "needs build, which failed"}, "needs build, which failed"},
	} {
		var j shipgate.JobRun
		j.End(tt.end)
		if j.Reason != tt.want || j.Cause != tt.end.Cause {
			t.Errorf("%+v: reason %q cause %q, want %q", tt.end, j.Reason, j.Cause, tt.want)
		}
	}
}

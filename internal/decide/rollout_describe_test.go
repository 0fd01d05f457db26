package decide

import (
	"testing"

	"github.com/shipgate/shipgate"
)

// A refused promote says in plain words where each rollout is; for a
// job that has ended, that it ended, how, and that nothing is left to
// promote.
func TestDescribeRollouts(t *testing.T) {
	ro := func(job, phase string, step int) shipgate.Rollout {
		return shipgate.Rollout{Job: job, Status: shipgate.RolloutStatus{Phase: phase, Step: step, Steps: 3}}
	}
	tests := []struct {
		ros   []shipgate.Rollout
		state map[string]shipgate.JobState
		want  string
	}{
		{[]shipgate.Rollout{ro("rollout", shipgate.RolloutProgressing, 2)}, map[string]shipgate.JobState{"rollout": shipgate.JobRunning},
			"its rollout is progressing at step 2 of 3"},
		{[]shipgate.Rollout{ro("rollout", shipgate.RolloutPromoted, 3)}, map[string]shipgate.JobState{"rollout": shipgate.JobSucceeded},
			"job rollout has ended (succeeded) and its rollout was fully promoted, so there is nothing left to promote"},
		{[]shipgate.Rollout{ro("rollout", shipgate.RolloutAborted, 2)}, map[string]shipgate.JobState{"rollout": shipgate.JobFailed},
			"job rollout has ended (failed) and its rollout was aborted at step 2 of 3, so there is nothing left to promote"},
		{[]shipgate.Rollout{ro("web", shipgate.RolloutPromoted, 3), ro("api", shipgate.RolloutPaused, 1)},
			map[string]shipgate.JobState{"web": shipgate.JobSucceeded, "api": shipgate.JobRunning},
			"job web has ended (succeeded) and its rollout was fully promoted, so there is nothing left to promote; the rollout of job api is paused at step 1 of 3"},
	}
	for _, tt := range tests {
		if got := DescribeRollouts(tt.ros, tt.state); got != tt.want {
			t.Errorf("describeRollouts:\n got %q\nwant %q", got, tt.want)
		}
	}
}

package decide

import (
	"fmt"
	"maps"
	"strings"

	"github.com/shipgate/shipgate"
)

// promote continues the paused rollouts of the release's current run: each
// paused one (of a running job's current attempt) is promoted through its
// current step. Promoting a step already promoted changes nothing and
// records nothing. Without a paused rollout it is a conflict, explained in
// a sentence.
func (p *planner) promote(c Promote) {
	if p.r.Run == 0 {
		p.fail(shipgate.Errorf(shipgate.ECONFLICT, "release %d has no rollout: it has not run (it is %s)", p.r.ID, p.r.State))
		return
	}
	state := map[string]shipgate.JobState{}
	var current []shipgate.Rollout // of each job's current attempt
	for _, j := range p.obs.Jobs {
		state[j.Name] = j.State
		for _, ro := range p.obs.Rollouts {
			if ro.JobID == j.ID && ro.Attempt == j.Attempt {
				current = append(current, ro)
			}
		}
	}
	if len(current) == 0 {
		p.fail(shipgate.Errorf(shipgate.ECONFLICT, "release %d has no rollout", p.r.ID))
		return
	}
	var already []string
	for _, ro := range current {
		if ro.Status.Phase != shipgate.RolloutPaused || state[ro.Job] != shipgate.JobRunning {
			continue
		}
		step, pause := ro.Status.Step, ro.Status.Pause // a stored rollout pauses only at a numbered pause
		if ro.PromotedThrough >= pause {
			already = append(already, fmt.Sprintf("pause %d of job %s", pause, ro.Job))
			continue
		}
		ro.PromotedThrough = pause
		details := shipgate.StepDetails(step)
		maps.Copy(details, map[string]any{"job": ro.Job, "run": p.r.Run, "attempt": ro.Attempt, "pause": pause, "paused": ro.Status.Paused, "comment": c.Comment})
		p.move(Step{Entity: EntityRollout, ID: ro.JobID, Name: ro.Job, From: ro.Status.Phase, To: ro.Status.Phase, On: OnPromote}, c.Actor, details)
		p.plan.Promote = append(p.plan.Promote, ro)
	}
	if len(p.plan.Promote) == 0 && len(already) > 0 {
		// A second promote before the agent reported its next pause would
		// otherwise look like a promotion of that next pause.
		p.fail(shipgate.Errorf(shipgate.ECONFLICT, "release %d: %s was already promoted and the agent has not reported since; promote again once `release show` says it waits", p.r.ID, strings.Join(already, ", ")))
		return
	}
	if len(p.plan.Promote) == 0 {
		p.fail(shipgate.Errorf(shipgate.ECONFLICT, "release %d has no paused rollout: %s", p.r.ID, DescribeRollouts(current, state)))
	}
}

// DescribeRollouts says where rollouts are, for a refused promote.
func DescribeRollouts(ros []shipgate.Rollout, state map[string]shipgate.JobState) string {
	parts := make([]string, len(ros))
	for i, ro := range ros {
		s := ro.Status
		what := "its rollout"
		if len(ros) > 1 {
			what = "the rollout of job " + ro.Job
		}
		where := s.Phase
		if s.Step > 0 && s.Phase != shipgate.RolloutPromoted { // 0: not at a step yet
			where += fmt.Sprintf(" at step %d of %d", s.Step, s.Steps)
		}
		if st := state[ro.Job]; st != shipgate.JobRunning {
			if s.Phase == shipgate.RolloutPromoted {
				where = "fully promoted"
			}
			parts[i] = fmt.Sprintf("job %s has ended (%s) and its rollout was %s, so there is nothing left to promote", ro.Job, st, where)
		} else {
			parts[i] = fmt.Sprintf("%s is %s", what, where)
		}
	}
	return strings.Join(parts, "; ")
}

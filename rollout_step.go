package shipgate

// StepBase is the number of a strategy's first step: steps are counted
// from 1, as people count them, in a rollout's status, its analysis
// decisions, the job's reason ("aborted at step 2"), the logs and the
// audit events. Audit events that name a step carry it as "step_base" in
// their details; events written before steps were counted this way carry
// none, count from 0, and mark a background decision with step -1.
const StepBase = 1

// legacyBackgroundStep is how an agent older than StepBase marked a
// decision of the background analysis.
const legacyBackgroundStep = -1

// UpgradeDecision reads a decision as this version counts steps: an older
// agent's background decision (step -1) becomes a background decision
// with no step (0), since the step the rollout was at is not known. Other
// decisions are returned as they are.
func UpgradeDecision(d AnalysisDecision) AnalysisDecision {
	if d.Step == legacyBackgroundStep {
		d.Step, d.Background = 0, true
	}
	return d
}

// CheckSteps refuses a rollout status whose step numbers cannot be:
// Steps below 0, or a step (of the status or of a decision) outside
// 0..Steps — 0 meaning before the first step or a rollout without steps.
// Decisions are read with UpgradeDecision first.
func (s *RolloutStatus) CheckSteps() error {
	if s.Steps < 0 {
		return Errorf(EINVALID, "a rollout has 0 or more steps, not %d", s.Steps)
	}
	if s.Step < 0 || s.Step > s.Steps {
		return Errorf(EINVALID, "rollout step %d is outside 0..%d: steps count from %d (0 before the first step), up to steps", s.Step, s.Steps, StepBase)
	}
	for _, d := range s.Decisions {
		if d = UpgradeDecision(d); d.Step < 0 || d.Step > s.Steps {
			return Errorf(EINVALID, "the decision of %q at %s names step %d, outside 0..%d: steps count from %d", clipForError(d.Metric), d.At.Format("15:04:05"), d.Step, s.Steps, StepBase)
		}
	}
	return nil
}

// StepDetails returns audit details naming step, with how steps are
// counted, so a reader can tell these events from older ones.
func StepDetails(step int) map[string]any {
	return map[string]any{"step": step, "step_base": StepBase}
}

package reconcile

import (
	"context"
	"fmt"
	"maps"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Rollout records the progress of a rollout the runner holds (or held: an
// agent reports the final status of a rollout it aborted after its job has
// failed) and returns the promotions people granted it. A report older than
// the stored one changes nothing. The transitions it shows against the
// stored status are audited in the same transaction, each once.
func (d *Dispatcher) Rollout(ctx context.Context, runner string, key shipgate.AttemptKey, status shipgate.RolloutStatus) (shipgate.RolloutReply, error) {
	reply := shipgate.RolloutReply{PromotedThrough: -1}
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		j, err := current(ctx, tx, runner, key)
		if err != nil {
			return err
		}
		if j.State != shipgate.JobRunning && status.Phase != shipgate.RolloutAborted && status.Phase != shipgate.RolloutPromoted {
			// After the job ended only its final status still lands.
			return shipgate.Errorf(shipgate.ECONFLICT, "job %s is %s: only a final rollout status (aborted or promoted) is taken now, not %s", j.Name, j.State, status.Phase)
		}
		prev, err := tx.FindRollout(ctx, j.ID, key.Attempt)
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			prev = nil
		} else if err != nil {
			return err
		}
		ro, fresh, err := tx.PutRollout(ctx, j.ID, key.Attempt, status)
		if err != nil {
			return err
		}
		reply.PromotedThrough = ro.PromotedThrough
		if !fresh {
			return nil
		}
		var before *shipgate.RolloutStatus
		if prev != nil {
			before = &prev.Status
		}
		base := map[string]any{"job": j.Name, "run": j.Run, "attempt": key.Attempt, "runner": runner}
		if err := tx.Audit(ctx, rolloutEvents(shipgate.ReleaseSubject(key.ReleaseID), base, before, ro.Status)...); err != nil {
			return err
		}
		return mitigateAbort(ctx, tx, key.ReleaseID, &j, before, ro.Status)
	})
	if err != nil {
		return shipgate.RolloutReply{PromotedThrough: -1}, err
	}
	return reply, nil
}

// rolloutEvents returns the audit events recording how a rollout moved from
// prev (nil before its first report) to cur, both as stored: the analysis
// decisions that failed, were inconclusive or errored since prev (the
// cause first), then a weight change, a pause, an abort or the completion.
// Like the job events, they are the system's, naming the runner in details.
func rolloutEvents(subject string, base map[string]any, prev *shipgate.RolloutStatus, cur shipgate.RolloutStatus) []shipgate.AuditEvent {
	var was shipgate.RolloutStatus // the zero status: weight 0, no phase
	if prev != nil {
		was = *prev
	}
	var out []shipgate.AuditEvent
	add := func(action string, details map[string]any) {
		m := maps.Clone(base)
		maps.Copy(m, details)
		out = append(out, shipgate.NewAuditEvent(shipgate.SystemActor, action, subject, m))
	}
	seen := map[string]bool{}
	for _, d := range was.Decisions {
		seen[sqlstore.DecisionKey(d)] = true
	}
	for _, d := range cur.Decisions {
		if seen[sqlstore.DecisionKey(d)] || !badDecision(d.Phase) {
			continue
		}
		judged := map[string]any{"judge": d.Judge, "metric": d.Metric, "phase": d.Phase, "summary": d.Summary, "evidence": evidence(d.Evidence)}
		if d.Background {
			judged["background"] = true // step: the one the rollout was at
		}
		add(shipgate.ActionAnalysisJudged, atStep(d.Step, judged))
	}
	// Traffic going back to stable is part of the abort, and all of it
	// going to the new version part of the completion: each is recorded by
	// its own event.
	if cur.Weight != was.Weight && cur.Phase != shipgate.RolloutAborted && cur.Phase != shipgate.RolloutPromoted {
		add(shipgate.ActionRolloutStep, atStep(cur.Step, map[string]any{
			"weight_from": was.Weight, "weight_to": cur.Weight, "canary_version": cur.CanaryVersion,
		}))
	}
	switch {
	case cur.Phase == shipgate.RolloutPaused && (was.Phase != shipgate.RolloutPaused || was.Pause != cur.Pause):
		add(shipgate.ActionRolloutPaused, atStep(cur.Step, map[string]any{"pause": cur.Pause, "reason": cur.Paused, "steps": cur.Steps}))
	case cur.Phase == shipgate.RolloutAborted && was.Phase != shipgate.RolloutAborted:
		weight := cur.Weight // the canary's share when it was stopped
		if prev != nil {
			weight = was.Weight
		}
		// The agent's message says why it aborted (a decision's summary,
		// or a cancel or timeout); the evidence is that decision's.
		reason, ev := cur.Message, map[string]any{}
		if d, ok := failingDecision(cur.Decisions, cur.Message); ok {
			reason, ev = d.Summary, evidence(d.Evidence)
		}
		if reason == "" {
			reason = "the agent aborted the rollout without saying why"
		}
		add(shipgate.ActionRolloutAborted, atStep(cur.Step, map[string]any{
			"weight": weight, "canary_version": cur.CanaryVersion, "reason": reason, "evidence": ev, "steps": cur.Steps,
		}))
	case cur.Phase == shipgate.RolloutPromoted && was.Phase != shipgate.RolloutPromoted:
		done := map[string]any{"version": cur.CanaryVersion, "strategy": cur.Strategy}
		if cur.Message != "" {
			done["message"] = cur.Message // e.g. already the stable version
		}
		add(shipgate.ActionRolloutDone, done)
	}
	return out
}

// atStep adds the step to an event's details with how steps count
// (step_base), so the event reads apart from those of versions that
// counted from 0.
func atStep(step int, details map[string]any) map[string]any {
	maps.Copy(details, shipgate.StepDetails(step))
	return details
}

func badDecision(phase string) bool {
	return phase == shipgate.AnalysisFailed || phase == shipgate.AnalysisInconclusive || phase == shipgate.AnalysisError
}

// failingDecision is the decision an abort rests on: the one whose summary
// is the agent's message when there is a message (none: the abort was a
// cancel or a timeout), else the latest failed one, else the latest that
// errored.
func failingDecision(ds []shipgate.AnalysisDecision, message string) (shipgate.AnalysisDecision, bool) {
	if message != "" {
		for i := len(ds) - 1; i >= 0; i-- {
			if ds[i].Summary == message {
				return ds[i], true
			}
		}
		return shipgate.AnalysisDecision{}, false // not an analysis's verdict: a cancel, a timeout
	}
	for _, phase := range []string{shipgate.AnalysisFailed, shipgate.AnalysisError} {
		for i := len(ds) - 1; i >= 0; i-- {
			if ds[i].Phase == phase {
				return ds[i], true
			}
		}
	}
	return shipgate.AnalysisDecision{}, false
}

func evidence(ev map[string]any) map[string]any {
	if ev == nil {
		return map[string]any{}
	}
	return ev
}

// mitigateAbort flips the release's mitigations the moment its canary
// analysis aborts the rollout (the abort of cur, first seen now), without
// waiting for the job to fail: the analysis is a health verdict whatever
// the rollback policy's check target. An abort that no analysis decided
// (a cancel, a timeout) flips nothing here; the job's failure then decides
// by the policy's rule (decide: Plan.Mitigate).
func mitigateAbort(ctx context.Context, tx *sqlstore.Tx, releaseID int64, j *shipgate.JobRun, prev *shipgate.RolloutStatus, cur shipgate.RolloutStatus) error {
	if cur.Phase != shipgate.RolloutAborted || prev != nil && prev.Phase == shipgate.RolloutAborted {
		return nil
	}
	d, ok := failingDecision(cur.Decisions, cur.Message)
	if !ok {
		return nil
	}
	r, err := tx.FindRelease(ctx, releaseID)
	if err != nil {
		return err
	}
	if r.Run != j.Run {
		return nil // a late report of an earlier run
	}
	why := fmt.Sprintf("its canary analysis aborted the rollout in job %s: %s", j.Name, d.Summary)
	_, err = tx.MitigateRelease(ctx, r, why)
	return err
}

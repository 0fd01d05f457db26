package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shipgate/shipgate"
)

// Bounds of what a rollout report may be and what is kept of it. An agent
// reports every second for as long as a rollout runs, so the stored row is
// replaced rather than grown, and everything in it is bounded.
const (
	// MaxRolloutStatusBytes bounds a report as encoded; a larger one is
	// refused, and the stored status is kept within it too.
	MaxRolloutStatusBytes = 64 << 10
	// MaxRolloutDecisions is how many analysis decisions are kept: the
	// latest ones.
	MaxRolloutDecisions = 20
	// MaxRolloutTraffic is how many per-version traffic entries are kept.
	MaxRolloutTraffic = 8

	maxEvidenceKeys  = 24
	maxEvidenceKey   = 48
	maxEvidenceValue = 200
	maxRolloutText   = 1000
	maxRolloutName   = 200
	maxRolloutWord   = 32
)

// rolloutPhases are the phases an agent may report.
var rolloutPhases = []string{shipgate.RolloutStarting, shipgate.RolloutProgressing, shipgate.RolloutPaused, shipgate.RolloutPromoted, shipgate.RolloutAborted}

// Rollout is a stored rollout status (shipgate.Rollout).
type Rollout = shipgate.Rollout

const rolloutColumns = `r.job_id, j.name, r.attempt, r.promoted_through, r.status, r.updated_at`

func scanRollout(sc interface{ Scan(...any) error }) (Rollout, error) {
	var ro Rollout
	var status string
	var at int64
	if err := sc.Scan(&ro.JobID, &ro.Job, &ro.Attempt, &ro.PromotedThrough, &status, &at); err != nil {
		return ro, err
	}
	ro.UpdatedAt = fromMicros(at)
	if err := json.Unmarshal([]byte(status), &ro.Status); err != nil {
		return ro, fmt.Errorf("decode rollout status of job %d attempt %d: %w", ro.JobID, ro.Attempt, err)
	}
	return ro, nil
}

// FindRollout returns the stored rollout of a job attempt.
func (tx *Tx) FindRollout(ctx context.Context, jobID int64, attempt int) (*Rollout, error) {
	ro, err := scanRollout(tx.queryRow(ctx, `SELECT `+rolloutColumns+` FROM rollouts r JOIN jobs j ON j.id = r.job_id WHERE r.job_id = ? AND r.attempt = ?`, jobID, attempt))
	if err != nil {
		return nil, notFound(err, "attempt %d of job %d has reported no rollout", attempt, jobID)
	}
	return &ro, nil
}

// ListRollouts returns the rollouts of a release's run, per job (in
// pipeline order) and attempt.
func (tx *Tx) ListRollouts(ctx context.Context, releaseID int64, run int) ([]Rollout, error) {
	rows, err := tx.query(ctx, `SELECT `+rolloutColumns+` FROM rollouts r JOIN jobs j ON j.id = r.job_id
		WHERE j.release_id = ? AND j.run = ? ORDER BY j.position, r.attempt`, releaseID, run)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Rollout
	for rows.Next() {
		ro, err := scanRollout(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ro)
	}
	return out, rows.Err()
}

// PutRollout stores a rollout report of a job attempt and returns the row
// as stored. A report whose seq is not above the stored one (late or
// repeated) changes nothing: the stored row is returned with fresh false.
// Its decisions are merged with the stored ones, and what is kept is
// bounded (see MaxRolloutDecisions and the others). A report larger than
// MaxRolloutStatusBytes is refused.
func (tx *Tx) PutRollout(ctx context.Context, jobID int64, attempt int, s shipgate.RolloutStatus) (ro *Rollout, fresh bool, err error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, false, shipgate.Errorf(shipgate.EINVALID, "the rollout status cannot be encoded as JSON: %v", err)
	}
	if len(raw) > MaxRolloutStatusBytes {
		return nil, false, shipgate.Errorf(shipgate.EINVALID, "the rollout status is %d bytes; the limit is %d: report only the latest decisions, with one-sentence summaries and small evidence", len(raw), MaxRolloutStatusBytes)
	}
	if !slices.Contains(rolloutPhases, s.Phase) {
		return nil, false, shipgate.Errorf(shipgate.EINVALID, "rollout phase %q is not one of %s", clipText(s.Phase, maxRolloutWord), strings.Join(rolloutPhases, ", "))
	}
	if err := s.CheckSteps(); err != nil {
		return nil, false, err
	}
	if s.Phase == shipgate.RolloutPaused && s.Pause < 1 {
		// promoted_through is a pause number: an unnumbered pause could
		// only ever be promoted by mistake.
		return nil, false, shipgate.Errorf(shipgate.EINVALID, "a paused rollout status needs its pause number (pause ≥ 1), not %d", s.Pause)
	}
	prev, err := tx.FindRollout(ctx, jobID, attempt)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		prev = nil
	} else if err != nil {
		return nil, false, err
	}
	if prev != nil && s.Seq <= prev.Status.Seq {
		return prev, false, nil
	}
	var stored []shipgate.AnalysisDecision
	if prev != nil {
		stored = prev.Status.Decisions
	}
	enc, err := encodeBounded(BoundRolloutStatus(s, stored))
	if err != nil {
		return nil, false, err
	}
	// The seq guard in the statement keeps the rule even for a writer that
	// raced past the check above.
	if _, err := tx.exec(ctx, `INSERT INTO rollouts (job_id, attempt, seq, status, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (job_id, attempt) DO UPDATE SET seq = excluded.seq, status = excluded.status, updated_at = excluded.updated_at
		WHERE rollouts.seq < excluded.seq`, jobID, attempt, s.Seq, string(enc), micros(tx.now)); err != nil {
		return nil, false, fmt.Errorf("store rollout of job %d attempt %d: %w", jobID, attempt, err)
	}
	ro, err = tx.FindRollout(ctx, jobID, attempt)
	if err != nil {
		return nil, false, err
	}
	var before *shipgate.RolloutStatus
	if prev != nil {
		before = &prev.Status
	}
	if err := tx.addRolloutPoint(ctx, jobID, attempt, before, ro.Status); err != nil {
		return nil, false, err
	}
	return ro, true, nil
}

// encodeBounded encodes a bounded status, dropping its oldest decisions
// while it is larger than MaxRolloutStatusBytes (text that JSON escapes
// grows when encoded, so clipping alone does not guarantee the bound).
func encodeBounded(s shipgate.RolloutStatus) ([]byte, error) {
	for {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("encode rollout status: %w", err)
		}
		if len(b) <= MaxRolloutStatusBytes || len(s.Decisions) == 0 {
			return b, nil
		}
		s.Decisions = s.Decisions[1:]
	}
}

// BoundRolloutStatus returns what is kept of a report: its decisions merged
// with the stored ones (a decision is the same when its At, Metric and Step
// are; the report's copy wins), the latest MaxRolloutDecisions of them in
// time order, the first MaxRolloutTraffic traffic entries, text clipped and
// evidence reduced to a few short values.
func BoundRolloutStatus(s shipgate.RolloutStatus, stored []shipgate.AnalysisDecision) shipgate.RolloutStatus {
	s.Strategy = clipText(s.Strategy, maxRolloutWord)
	s.Phase = clipText(s.Phase, maxRolloutWord)
	s.StableVersion = clipText(s.StableVersion, maxRolloutName)
	s.CanaryVersion = clipText(s.CanaryVersion, maxRolloutName)
	s.Paused = clipText(s.Paused, maxRolloutText)
	s.Message = clipText(s.Message, maxRolloutText)

	s.Decisions = slices.Clone(s.Decisions)
	for i, d := range s.Decisions {
		s.Decisions[i] = shipgate.UpgradeDecision(d) // an older agent's step -1
	}
	seen := map[string]bool{}
	for _, d := range s.Decisions {
		seen[DecisionKey(d)] = true
	}
	var ds []shipgate.AnalysisDecision
	for _, d := range stored {
		if !seen[DecisionKey(d)] {
			ds = append(ds, d)
		}
	}
	ds = append(ds, s.Decisions...)
	slices.SortStableFunc(ds, func(a, b shipgate.AnalysisDecision) int { return a.At.Compare(b.At) })
	if len(ds) > MaxRolloutDecisions {
		ds = ds[len(ds)-MaxRolloutDecisions:]
	}
	s.Decisions = make([]shipgate.AnalysisDecision, len(ds))
	for i, d := range ds {
		d.Judge = clipText(d.Judge, maxRolloutWord)
		d.Metric = clipText(d.Metric, maxRolloutName)
		d.Phase = clipText(d.Phase, maxRolloutWord)
		d.Summary = clipText(d.Summary, maxRolloutText)
		d.Evidence = boundEvidence(d.Evidence)
		s.Decisions[i] = d
	}
	if len(s.Decisions) == 0 {
		s.Decisions = nil
	}

	s.Progress = boundProgress(s.Progress)

	if len(s.Traffic) > MaxRolloutTraffic {
		s.Traffic = s.Traffic[:MaxRolloutTraffic]
	}
	s.Traffic = slices.Clone(s.Traffic)
	for i := range s.Traffic {
		v := &s.Traffic[i]
		v.Version, v.Role = clipText(v.Version, maxRolloutName), clipText(v.Role, maxRolloutWord)
	}
	return s
}

// DecisionKey identifies an analysis decision across reports.
func DecisionKey(d shipgate.AnalysisDecision) string {
	return fmt.Sprintf("%d/%d/%s", d.At.UnixNano(), d.Step, d.Metric)
}

// boundEvidence keeps the first maxEvidenceKeys keys (in sorted order), each
// value as it is when its encoding is short, else as a clipped string.
func boundEvidence(ev map[string]any) map[string]any {
	if len(ev) == 0 {
		return nil
	}
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > maxEvidenceKeys {
		keys = keys[:maxEvidenceKeys]
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		v := ev[k]
		b, err := json.Marshal(v)
		switch {
		case err != nil:
			v = clipText(fmt.Sprint(v), maxEvidenceValue)
		case len(b) <= maxEvidenceValue:
		default:
			s, ok := v.(string)
			if !ok {
				s = string(b)
			}
			v = clipText(s, maxEvidenceValue-3) + "…"
		}
		out[clipText(k, maxEvidenceKey)] = v
	}
	return out
}

// setPromotedThrough records that a person promoted the rollout of a job
// attempt through pause n.
func (tx *Tx) setPromotedThrough(ctx context.Context, jobID int64, attempt, n int) error {
	if _, err := tx.exec(ctx, `UPDATE rollouts SET promoted_through = ? WHERE job_id = ? AND attempt = ?`, n, jobID, attempt); err != nil {
		return fmt.Errorf("promote rollout of job %d: %w", jobID, err)
	}
	return nil
}

// ServiceHome returns the runner that last started the job named job of a
// release of service in env, other than the job row except: for a job
// that declares a service, that agent runs the service's processes and
// router. "" when no such job ever started.
func (tx *Tx) ServiceHome(ctx context.Context, service, env, job string, except int64) (string, error) {
	var runner string
	err := tx.queryRow(ctx, `SELECT j.runner FROM jobs j JOIN releases r ON r.id = j.release_id
		WHERE r.service = ? AND r.environment = ? AND j.name = ? AND j.runner <> '' AND j.id <> ? AND j.started_at IS NOT NULL
		ORDER BY j.started_at DESC, j.id DESC LIMIT 1`, service, env, job, except).Scan(&runner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return runner, err
}

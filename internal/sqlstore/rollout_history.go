package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/shipgate/shipgate"
)

// Bounds of the analysis progress a report may carry (each report's
// progress is stored as a history point, every second).
const (
	maxRolloutProgress = 16
	maxProgressValues  = 8
	maxProgressKinds   = 4
)

// pointData is the JSON kept in rollout_points.data.
type pointData struct {
	Traffic   []shipgate.VersionTraffic   `json:"traffic,omitempty"`
	Progress  []shipgate.AnalysisProgress `json:"progress,omitempty"`
	Decisions []shipgate.AnalysisDecision `json:"decisions,omitempty"`
}

// boundProgress keeps the first maxRolloutProgress parts, each with a few
// finite numbers and short names.
func boundProgress(ps []shipgate.AnalysisProgress) []shipgate.AnalysisProgress {
	if len(ps) == 0 {
		return nil
	}
	if len(ps) > maxRolloutProgress {
		ps = ps[:maxRolloutProgress]
	}
	out := make([]shipgate.AnalysisProgress, len(ps))
	for i, p := range ps {
		p.Judge = clipText(p.Judge, maxRolloutWord)
		p.Metric = clipText(p.Metric, maxRolloutName)
		p.Result = clipText(p.Result, maxRolloutWord)
		p.E, p.Threshold = boundKinds(p.E), boundKinds(p.Threshold)
		var vs []float64
		for _, v := range p.Values {
			if len(vs) == maxProgressValues {
				break
			}
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				vs = append(vs, v)
			}
		}
		p.Values = vs
		out[i] = p
	}
	return out
}

func boundKinds(m map[string]float64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := map[string]float64{}
	for _, k := range keys {
		if v := m[k]; len(out) < maxProgressKinds && !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[clipText(k, maxRolloutWord)] = v
		}
	}
	return out
}

// addRolloutPoint records a stored report (cur, as bounded) in the
// attempt's history, marking it when it changed anything a person reads
// the rollout by, then thins the history past shipgate.MaxRolloutPoints.
func (tx *Tx) addRolloutPoint(ctx context.Context, jobID int64, attempt int, prev *shipgate.RolloutStatus, cur shipgate.RolloutStatus) error {
	d := pointData{Traffic: cur.Traffic, Progress: cur.Progress}
	seen := map[string]bool{}
	if prev != nil {
		for _, dd := range prev.Decisions {
			seen[DecisionKey(dd)] = true
		}
	}
	for _, dd := range cur.Decisions {
		if !seen[DecisionKey(dd)] {
			d.Decisions = append(d.Decisions, dd)
		}
	}
	mark := prev == nil || len(d.Decisions) > 0 || prev.Step != cur.Step || prev.Weight != cur.Weight || prev.Phase != cur.Phase
	raw, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode rollout point: %w", err)
	}
	at := cur.UpdatedAt
	if at.IsZero() {
		at = tx.now
	}
	if _, err := tx.exec(ctx, `INSERT INTO rollout_points (job_id, attempt, seq, at, step, weight, phase, mark, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job_id, attempt, seq) DO NOTHING`, jobID, attempt, cur.Seq, micros(at), cur.Step, cur.Weight, cur.Phase, boolInt(mark), string(raw)); err != nil {
		return fmt.Errorf("store rollout point of job %d attempt %d: %w", jobID, attempt, err)
	}
	return tx.thinRolloutPoints(ctx, jobID, attempt)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// thinRolloutPoints keeps an attempt's history within MaxRolloutPoints:
// once past it, every second unmarked point of the older half goes.
func (tx *Tx) thinRolloutPoints(ctx context.Context, jobID int64, attempt int) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM rollout_points WHERE job_id = ? AND attempt = ?`, jobID, attempt).Scan(&n); err != nil {
		return fmt.Errorf("count rollout points: %w", err)
	}
	if n <= shipgate.MaxRolloutPoints {
		return nil
	}
	rows, err := tx.query(ctx, `SELECT seq FROM rollout_points WHERE job_id = ? AND attempt = ? AND mark = 0 ORDER BY seq LIMIT ?`, jobID, attempt, n/2)
	if err != nil {
		return fmt.Errorf("list rollout points to thin: %w", err)
	}
	var drop []any
	for i := 0; rows.Next(); i++ {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return err
		}
		if i%2 == 1 {
			drop = append(drop, seq)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for len(drop) > 0 {
		batch := drop[:min(len(drop), 200)]
		drop = drop[len(batch):]
		args := append([]any{jobID, attempt}, batch...)
		q := `DELETE FROM rollout_points WHERE job_id = ? AND attempt = ? AND seq IN (?` + strings.Repeat(", ?", len(batch)-1) + `)`
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("thin rollout points: %w", err)
		}
	}
	return nil
}

// RolloutHistory returns the history of a job attempt's rollout: its
// points, oldest first, and every decision kept (those the points recorded
// as new, and the stored status's), in time order. With maxPoints > 0 and
// more points than that, it returns about maxPoints of them evenly spread,
// the first and the last, plus every point that marks a change (those are
// also the only ones that carry decisions), and decodes only those: a
// chart of a few hundred points need not pay for thousands.
func (tx *Tx) RolloutHistory(ctx context.Context, jobID int64, attempt, maxPoints int) (*shipgate.RolloutHistory, error) {
	ro, err := tx.FindRollout(ctx, jobID, attempt)
	if err != nil {
		return nil, err
	}
	h := &shipgate.RolloutHistory{Job: ro.Job, Attempt: attempt, Points: []shipgate.RolloutPoint{}, Decisions: []shipgate.AnalysisDecision{}}
	rows, err := tx.query(ctx, `SELECT seq, at, step, weight, phase, mark, data FROM rollout_points WHERE job_id = ? AND attempt = ? ORDER BY seq`, jobID, attempt)
	if err != nil {
		return nil, fmt.Errorf("read rollout history: %w", err)
	}
	type row struct {
		p   shipgate.RolloutPoint
		raw string
	}
	var all []row
	for rows.Next() {
		var r row
		var at int64
		var mark int
		if err := rows.Scan(&r.p.Seq, &at, &r.p.Step, &r.p.Weight, &r.p.Phase, &mark, &r.raw); err != nil {
			rows.Close()
			return nil, err
		}
		r.p.At, r.p.Mark = fromMicros(at), mark != 0
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	byKey := map[string]int{}
	addDecision := func(d shipgate.AnalysisDecision) {
		k := DecisionKey(d)
		if i, ok := byKey[k]; ok {
			h.Decisions[i] = d
			return
		}
		byKey[k] = len(h.Decisions)
		h.Decisions = append(h.Decisions, d)
	}
	every := 1.0
	if maxPoints > 1 && len(all) > maxPoints {
		every = float64(len(all)-1) / float64(maxPoints-1)
	}
	next := 0.0
	for i, r := range all {
		take := r.p.Mark || i == len(all)-1 || float64(i) >= next
		if float64(i) >= next {
			next += every
		}
		if !take {
			continue
		}
		var d pointData
		if err := json.Unmarshal([]byte(r.raw), &d); err != nil {
			return nil, fmt.Errorf("decode rollout point %d of job %d attempt %d: %w", r.p.Seq, jobID, attempt, err)
		}
		r.p.Traffic, r.p.Progress = d.Traffic, d.Progress
		for _, dd := range d.Decisions {
			addDecision(dd)
		}
		h.Points = append(h.Points, r.p)
	}
	for _, dd := range ro.Status.Decisions {
		addDecision(dd)
	}
	slices.SortStableFunc(h.Decisions, func(a, b shipgate.AnalysisDecision) int { return a.At.Compare(b.At) })
	return h, nil
}

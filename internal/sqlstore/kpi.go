package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/kpi"
)

// KPIHistory reads what the gate and rollout KPIs are computed from (see
// internal/kpi): the releases created in f's window of f's service and
// environment and team, their jobs' outcomes and queue waits,
// their policy decisions, checklist items at their gates, rollouts and
// analysis decisions.
func (tx *Tx) KPIHistory(ctx context.Context, f shipgate.KPIFilter) (*kpi.History, error) {
	where := ` WHERE rel.created_at >= ? AND rel.created_at < ?`
	args := []any{micros(f.Since), micros(f.Until)}
	if f.Service != "" {
		where += ` AND rel.service = ?`
		args = append(args, f.Service)
	}
	if f.Environment != "" {
		where += ` AND rel.environment = ?`
		args = append(args, f.Environment)
	}
	if f.Team != "" {
		where += ` AND rel.owner = ?`
		args = append(args, f.Team)
	}
	h := &kpi.History{}
	l := kpiLoader{tx: tx, h: h, where: where, args: args, rels: map[int64]*kpiRelease{}}
	for _, step := range []func(context.Context) error{l.releases, l.jobs, l.policy, l.audit, l.rollouts, l.checklists} {
		if err := step(ctx); err != nil {
			return nil, fmt.Errorf("kpi history: %w", err)
		}
	}
	return h, nil
}

type kpiLoader struct {
	tx    *Tx
	h     *kpi.History
	where string
	args  []any
	rels  map[int64]*kpiRelease
}

// kpiRelease is what the loader keeps of a release besides kpi.Release:
// when it passed its checklist gates, and whether it ended before them.
type kpiRelease struct {
	state           shipgate.ReleaseState
	checklist       []shipgate.ChecklistItem
	queued, started *time.Time
	updated         time.Time
	finished        *time.Time
	queuedAt        *time.Time // the wait open now (queued or rerun, not started yet)
}

func (l *kpiLoader) releases(ctx context.Context) error {
	// The owner and the hotfix mark are columns (migration 0028); the
	// frozen content is read and decoded only where it holds a checklist:
	// decoding every release's would cost more than all the rest.
	find := "strpos" // a plain substring search: LIKE is slower on both engines
	if l.tx.db.dialect.name == "sqlite" {
		find = "instr"
	}
	rows, err := l.tx.query(ctx, `SELECT rel.id, rel.service, rel.environment, rel.kind, rel.artifact_sha256,
		COALESCE(rel.owner, ''), COALESCE(rel.hotfix_of, 0), CASE WHEN `+find+`(rel.content, '"checklist"') > 0 THEN rel.content ELSE '' END,
		rel.state, rel.created_at, rel.updated_at, rel.finished_at FROM releases rel`+l.where+` ORDER BY rel.id`, l.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r kpi.Release
		var content string
		var hotfixOf, created, updated int64
		var finished sql.NullInt64
		kr := &kpiRelease{}
		if err := rows.Scan(&r.ID, &r.Service, &r.Environment, &r.Kind, &r.ArtifactSHA, &r.Team, &hotfixOf, &content, &kr.state, &created, &updated, &finished); err != nil {
			return err
		}
		if content != "" {
			var c struct {
				Policy struct {
					Checklist []shipgate.ChecklistItem `json:"checklist"`
				} `json:"policy"`
			}
			if err := json.Unmarshal([]byte(content), &c); err != nil {
				return fmt.Errorf("release %d: %w", r.ID, err)
			}
			kr.checklist = c.Policy.Checklist
		}
		r.CreatedAt, r.Hotfix = fromMicros(created), hotfixOf != 0
		kr.updated, kr.finished = fromMicros(updated), fromNullMicros(finished)
		l.h.Releases = append(l.h.Releases, r)
		l.rels[r.ID] = kr
	}
	return rows.Err()
}

// jobs: a job's outcome is its final state in a run (succeeded passes,
// failed fails; skipped and cancelled jobs were not judged); its wait is
// queued → started of its last attempt.
func (l *kpiLoader) jobs(ctx context.Context) error {
	rows, err := l.tx.query(ctx, `SELECT j.release_id, j.name, j.state, j.queued_at, j.started_at, j.finished_at FROM jobs j JOIN releases rel ON rel.id = j.release_id`+l.where+` ORDER BY j.id`, l.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		var state shipgate.JobState
		var queued, started, finished sql.NullInt64
		if err := rows.Scan(&id, &name, &state, &queued, &started, &finished); err != nil {
			return err
		}
		if q, s := fromNullMicros(queued), fromNullMicros(started); q != nil && s != nil {
			l.h.JobWaits = append(l.h.JobWaits, kpi.Wait{ReleaseID: id, From: *q, To: *s})
		}
		if (state == shipgate.JobSucceeded || state == shipgate.JobFailed) && finished.Valid {
			l.h.Outcomes = append(l.h.Outcomes, kpi.Outcome{ReleaseID: id, Kind: shipgate.GateKindJob, Gate: name, Passed: state == shipgate.JobSucceeded, At: *fromNullMicros(finished)})
		}
	}
	return rows.Err()
}

// policy: every recorded decision at a point is an outcome (allow
// passes; deny and error fail).
func (l *kpiLoader) policy(ctx context.Context) error {
	rows, err := l.tx.query(ctx, `SELECT d.release_id, d.point, d.result, d.at FROM policy_decisions d JOIN releases rel ON rel.id = d.release_id`+l.where+` ORDER BY d.id`, l.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var o kpi.Outcome
		var result string
		var at int64
		if err := rows.Scan(&o.ReleaseID, &o.Gate, &result, &at); err != nil {
			return err
		}
		o.Kind, o.Passed, o.At = shipgate.GateKindPolicy, result == shipgate.PolicyAllow, fromMicros(at)
		l.h.Outcomes = append(l.h.Outcomes, o)
	}
	return rows.Err()
}

// rolloutKey names one job attempt's rollout.
type rolloutKey struct {
	release int64
	run     int
	job     string
	attempt int
}

type rolloutDetails struct {
	Job     string `json:"job"`
	Run     int    `json:"run"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason"`
	Metric  string `json:"metric"`
	Phase   string `json:"phase"`
	Summary string `json:"summary"`
}

// kpiActions are the audit actions the KPIs read: the release lifecycle
// (queue waits, when the checklist gates were passed), the rollouts' starts
// and ends, and the failed verdicts aborts rest on.
var kpiActions = []string{
	shipgate.ActionReleaseQueued, shipgate.ActionReleaseRerun, shipgate.ActionReleaseStarted,
	shipgate.ActionAnalysisJudged, shipgate.ActionRolloutStep, shipgate.ActionRolloutPaused,
	shipgate.ActionRolloutPromoted, shipgate.ActionRolloutAborted, shipgate.ActionRolloutDone,
}

// audit reads kpiActions' events since the window's start in one pass, in
// chain order, with details only for the rollout and analysis events.
func (l *kpiLoader) audit(ctx context.Context) error {
	// Events of a release come after its creation, so no event of a
	// release in the window is before its start.
	args := []any{l.args[0]}
	for _, a := range kpiActions {
		args = append(args, a)
	}
	rows, err := l.tx.query(ctx, `SELECT release_id, at, action, CASE WHEN substr(action, 1, 8) = 'release.' THEN '' ELSE details END
		FROM audit_events WHERE at >= ? AND release_id IS NOT NULL AND action IN (?`+strings.Repeat(", ?", len(kpiActions)-1)+`) ORDER BY seq`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	// The failed verdict an abort rests on precedes it in the chain.
	type verdict struct{ metric, summary string }
	lastFailed := map[rolloutKey]verdict{}
	idx := map[rolloutKey]int{}
	for rows.Next() {
		var id, atMicros int64
		var action, details string
		if err := rows.Scan(&id, &atMicros, &action, &details); err != nil {
			return err
		}
		kr := l.rels[id]
		if kr == nil {
			continue
		}
		at := fromMicros(atMicros)
		switch action {
		case shipgate.ActionReleaseQueued, shipgate.ActionReleaseRerun:
			if action == shipgate.ActionReleaseQueued && kr.queued == nil {
				kr.queued = &at
			}
			kr.queuedAt = &at
			continue
		case shipgate.ActionReleaseStarted:
			if kr.started == nil {
				kr.started = &at
			}
			if kr.queuedAt != nil {
				l.h.ReleaseWaits = append(l.h.ReleaseWaits, kpi.Wait{ReleaseID: id, From: *kr.queuedAt, To: at})
				kr.queuedAt = nil
			}
			continue
		}
		var d rolloutDetails
		if err := json.Unmarshal([]byte(details), &d); err != nil {
			return fmt.Errorf("audit event %s of release %d: %w", action, id, err)
		}
		k := rolloutKey{id, d.Run, d.Job, d.Attempt}
		if action == shipgate.ActionAnalysisJudged {
			if d.Phase == shipgate.AnalysisFailed || d.Phase == shipgate.AnalysisError {
				lastFailed[k] = verdict{d.Metric, d.Summary}
			}
			continue
		}
		i, ok := idx[k]
		if !ok {
			i = len(l.h.Rollouts)
			idx[k] = i
			l.h.Rollouts = append(l.h.Rollouts, kpi.Rollout{ReleaseID: id, Started: at})
		}
		ro := &l.h.Rollouts[i]
		switch action {
		case shipgate.ActionRolloutDone:
			ro.Ended = &at
		case shipgate.ActionRolloutAborted:
			ro.Ended, ro.Aborted, ro.Cause = &at, true, d.Reason
			if v, ok := lastFailed[k]; ok && v.summary == d.Reason {
				ro.Cause = "metric " + v.metric
			}
		}
	}
	return rows.Err()
}

// rollouts: every analysis decision kept with a rollout is a judge
// decision; per rollout attempt, a metric fails when any of its decisions
// failed or errored, and passes when none did and one succeeded.
func (l *kpiLoader) rollouts(ctx context.Context) error {
	rows, err := l.tx.query(ctx, `SELECT j.release_id, r.status FROM rollouts r JOIN jobs j ON j.id = r.job_id JOIN releases rel ON rel.id = j.release_id`+l.where+` ORDER BY r.job_id, r.attempt`, l.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var status string
		if err := rows.Scan(&id, &status); err != nil {
			return err
		}
		var st struct {
			Decisions []shipgate.AnalysisDecision `json:"decisions"`
		}
		if err := json.Unmarshal([]byte(status), &st); err != nil {
			return fmt.Errorf("rollout of release %d: %w", id, err)
		}
		type verdict struct {
			failed, passed bool
			at             time.Time
		}
		byMetric := map[string]*verdict{}
		var order []string
		for _, dec := range st.Decisions {
			l.h.Decisions = append(l.h.Decisions, kpi.Decision{ReleaseID: id, Metric: dec.Metric, Judge: dec.Judge, Verdict: dec.Phase})
			v := byMetric[dec.Metric]
			if v == nil {
				v = &verdict{}
				byMetric[dec.Metric] = v
				order = append(order, dec.Metric)
			}
			switch dec.Phase {
			case shipgate.AnalysisFailed, shipgate.AnalysisError:
				if !v.failed || dec.At.Before(v.at) {
					v.at = dec.At // the first failure
				}
				v.failed = true
			case shipgate.AnalysisSuccessful:
				if !v.failed && dec.At.After(v.at) {
					v.at = dec.At
				}
				v.passed = true
			}
		}
		for _, m := range order {
			if v := byMetric[m]; v.failed || v.passed {
				l.h.Outcomes = append(l.h.Outcomes, kpi.Outcome{ReleaseID: id, Kind: shipgate.GateKindAnalysis, Gate: m, Passed: !v.failed, At: v.at})
			}
		}
	}
	return rows.Err()
}

// checklists: an item passes when its release passed the item's gate
// (queued: approved; started), at that moment. It fails when the release
// was rejected or cancelled before passing the gate with the item unmet
// (evaluated now, as at the end: evidence and ticks are append-only).
// A release still waiting has no outcome yet.
func (l *kpiLoader) checklists(ctx context.Context) error {
	for _, r := range l.h.Releases {
		kr := l.rels[r.ID]
		if len(kr.checklist) == 0 {
			continue
		}
		var states map[string]bool
		for _, it := range kr.checklist {
			passedAt := kr.queued
			if it.GateOf() == shipgate.GateStart {
				passedAt = kr.started
			}
			if passedAt != nil {
				l.h.Outcomes = append(l.h.Outcomes, kpi.Outcome{ReleaseID: r.ID, Kind: shipgate.GateKindChecklist, Gate: it.Name, Passed: true, At: *passedAt})
				continue
			}
			if kr.state != shipgate.StateRejected && kr.state != shipgate.StateCancelled {
				continue
			}
			if states == nil {
				full, err := l.tx.FindRelease(ctx, r.ID)
				if err != nil {
					return err
				}
				items, err := l.tx.Checklist(ctx, full)
				if err != nil {
					return err
				}
				states = map[string]bool{}
				for _, s := range items {
					states[s.Name] = s.Holds
				}
			}
			if !states[it.Name] {
				end := kr.updated
				if kr.finished != nil {
					end = *kr.finished
				}
				l.h.Outcomes = append(l.h.Outcomes, kpi.Outcome{ReleaseID: r.ID, Kind: shipgate.GateKindChecklist, Gate: it.Name, Passed: false, At: end})
			}
		}
	}
	return nil
}

// CheckKPIFilter refuses a filter that would quietly match nothing because
// it is misspelt: a service that does not exist (not found), an
// environment no service declares and no release of the service was ever
// made to, a team that owns no service.
func (tx *Tx) CheckKPIFilter(ctx context.Context, f shipgate.KPIFilter) error {
	var services []*shipgate.Service
	if f.Service != "" {
		s, err := tx.FindService(ctx, f.Service)
		if err != nil {
			return err
		}
		services = []*shipgate.Service{s}
	} else {
		var err error
		if services, err = tx.ListServices(ctx); err != nil {
			return err
		}
	}
	if f.Environment != "" {
		declared := false
		for _, s := range services {
			if _, ok := s.Spec.Environment(f.Environment); ok {
				declared = true
			}
		}
		if !declared {
			q, args := `SELECT COUNT(*) FROM releases WHERE environment = ?`, []any{f.Environment}
			if f.Service != "" {
				q, args = q+` AND service = ?`, append(args, f.Service)
			}
			var n int64
			if err := tx.queryRow(ctx, q, args...).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return shipgate.Errorf(shipgate.EINVALID, "environment %q is not declared by %s and no release was ever made to it", f.Environment, serviceWord(f.Service))
			}
		}
	}
	if f.Team != "" {
		if f.Service != "" && services[0].Spec.Owner != f.Team {
			return shipgate.Errorf(shipgate.EINVALID, "team %q does not own service %s (its owner is %q)", f.Team, f.Service, services[0].Spec.Owner)
		}
		owned := false
		for _, s := range services {
			owned = owned || s.Spec.Owner == f.Team
		}
		if !owned {
			return shipgate.Errorf(shipgate.EINVALID, "team %q owns no service (a team is the owner group of a service file)", f.Team)
		}
	}
	return nil
}

func serviceWord(name string) string {
	if name == "" {
		return "any service"
	}
	return "service " + name
}

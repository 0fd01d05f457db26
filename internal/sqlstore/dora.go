package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/dora"
)

// DORALookback is how long before a window the DORA history reaches back
// for the releases a window's failures and recoveries need: the version
// live when a kill came, a deployment whose failure is detected in the
// window. A failure of a deployment older than that is not counted.
const DORALookback = 90 * 24 * time.Hour

// DORAFilter narrows the history to a service and an environment (empty:
// all). Teams are filtered by dora.Compute, from each release's owner.
type DORAFilter struct {
	Service     string
	Environment string
}

// doraActions are the audit actions the history reads, and what each
// gives (docs/metrics.md "Where each time comes from").
var doraActions = []string{
	shipgate.ActionReleaseFailed,  // failed: the first
	shipgate.ActionRolloutStep,    // it served traffic
	shipgate.ActionRolloutAborted, // canary aborted
	shipgate.ActionRollbackFired,  // a rollback of it fired
	shipgate.ActionProbeFailed,    // a health probe failed on it
	shipgate.ActionFlagKilled,     // kill switch
	shipgate.ActionFlagMitigated,  // a rollback policy's flag flip
}

// doraTimesSet keeps a release's queued_at (the last queue before its first
// start: its approvals complete) and started_at (its first start) as its
// state changes; SET expressions read the row as it was. doraTimesArgs are
// its arguments for the new state.
const doraTimesSet = `queued_at = CASE WHEN started_at IS NULL AND (? = 'queued' OR (? = 'running' AND queued_at IS NULL)) THEN ? ELSE queued_at END,
		started_at = CASE WHEN started_at IS NULL AND ? = 'running' THEN ? ELSE started_at END`

func doraTimesArgs(state shipgate.ReleaseState, now time.Time) []any {
	s := string(state)
	return []any{s, s, micros(now), s, micros(now)}
}

// storeDORAFacts copies the release facts the DORA history reads into
// their columns (migration 0028), so loading 100,000 releases decodes no
// content.
func (tx *Tx) storeDORAFacts(ctx context.Context, r *shipgate.Release) error {
	var committed, owner, hotfix, flags any
	if r.Source.CommittedAt != nil {
		committed = r.Source.CommittedAt.UTC().Format(time.RFC3339Nano)
	}
	if r.Owner != "" {
		owner = r.Owner
	}
	if r.HotfixOf != 0 {
		hotfix = r.HotfixOf
	}
	if len(r.Flags) > 0 {
		b, err := json.Marshal(r.Flags)
		if err != nil {
			return err
		}
		flags = string(b)
	}
	_, err := tx.exec(ctx, `UPDATE releases SET committed_at = ?, owner = ?, hotfix_of = ?, flags = ?, `+doraTimesSet+` WHERE id = ?`,
		append([]any{committed, owner, hotfix, flags}, append(doraTimesArgs(r.State, tx.now), r.ID)...)...)
	return err
}

// DORAHistory loads what dora.Compute needs for the window [since, until):
// the releases created from DORALookback before since up to until, and the
// incident signals of that span. Two queries. The release rows give the
// bulk: their facts (commit time, owner, hotfix, flags) from the columns of
// migration 0028 rather than the content, and their queued_at, started_at
// and succeeded_at, each written in the transaction that appends its
// release.queued, release.started or release.succeeded event (so the same
// time; 0028 filled in older releases from those events). The audit chain
// gives what only it has: the actions in doraActions, read by the
// audit_events_action_at index in any order.
func (tx *Tx) DORAHistory(ctx context.Context, since, until time.Time, f DORAFilter) (dora.History, error) {
	h := dora.History{Releases: []dora.Release{}, Signals: []dora.Signal{}}
	from := since.Add(-DORALookback)
	q := `SELECT id, service, environment, version, kind, state, created_at, succeeded_at, rollback_of, committed_at, owner, hotfix_of, flags, queued_at, started_at FROM releases WHERE created_at >= ? AND created_at < ?`
	args := []any{micros(from), micros(until)}
	if f.Service != "" {
		q += ` AND service = ?`
		args = append(args, f.Service)
	}
	if f.Environment != "" {
		q += ` AND environment = ?`
		args = append(args, f.Environment)
	}
	rows, err := tx.query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return h, err
	}
	index := map[int64]int{}
	for rows.Next() {
		var r dora.Release
		var created int64
		var succeeded, rollbackOf, hotfixOf, queued, started sql.NullInt64
		var committed, owner, flags sql.NullString
		if err := rows.Scan(&r.ID, &r.Service, &r.Environment, &r.Version, &r.Kind, &r.State, &created, &succeeded, &rollbackOf, &committed, &owner, &hotfixOf, &flags, &queued, &started); err != nil {
			rows.Close()
			return h, err
		}
		r.CreatedAt, r.SucceededAt, r.RollbackOf, r.HotfixOf, r.Team = fromMicros(created), fromNullMicros(succeeded), rollbackOf.Int64, hotfixOf.Int64, owner.String
		r.ApprovedAt, r.StartedAt = fromNullMicros(queued), fromNullMicros(started)
		if committed.Valid {
			t, err := time.Parse(time.RFC3339Nano, committed.String)
			if err != nil {
				rows.Close()
				return h, fmt.Errorf("release %d committed_at %q: %w", r.ID, committed.String, err)
			}
			r.CommittedAt = &t
		}
		if flags.Valid && flags.String != "" {
			if err := json.Unmarshal([]byte(flags.String), &r.Flags); err != nil {
				rows.Close()
				return h, fmt.Errorf("release %d flags: %w", r.ID, err)
			}
		}
		index[r.ID] = len(h.Releases)
		h.Releases = append(h.Releases, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return h, err
	}

	ph := strings.TrimSuffix(strings.Repeat("?, ", len(doraActions)), ", ")
	args = []any{micros(from), micros(until)}
	for _, a := range doraActions {
		args = append(args, a)
	}
	rows, err = tx.query(ctx, `SELECT at, action, release_id, details FROM audit_events WHERE at >= ? AND at < ? AND action IN (`+ph+`)`, args...)
	if err != nil {
		return h, err
	}
	defer rows.Close()
	for rows.Next() {
		var at int64
		var action, details string
		var rid sql.NullInt64
		if err := rows.Scan(&at, &action, &rid, &details); err != nil {
			return h, err
		}
		t := fromMicros(at)
		if action == shipgate.ActionFlagKilled || action == shipgate.ActionFlagMitigated {
			if s, ok := flagSignal(t, action, details, f); ok {
				h.Signals = append(h.Signals, s)
			}
			continue
		}
		i, ok := index[rid.Int64]
		if !rid.Valid || !ok {
			continue
		}
		r := &h.Releases[i]
		switch action {
		case shipgate.ActionReleaseFailed:
			r.FailedAt = earliest(r.FailedAt, t)
		case shipgate.ActionRolloutStep:
			r.ServedTraffic = true
		case shipgate.ActionRolloutAborted:
			h.Signals = append(h.Signals, dora.Signal{At: t, Kind: dora.SignalCanaryAborted, Release: r.ID, Service: r.Service, Environment: r.Environment})
		case shipgate.ActionProbeFailed:
			h.Signals = append(h.Signals, dora.Signal{At: t, Kind: dora.SignalHealthGate, Release: r.ID, Service: r.Service, Environment: r.Environment})
		case shipgate.ActionRollbackFired:
			var d struct {
				TriggeredBy string `json:"triggered_by"`
			}
			_ = json.Unmarshal([]byte(details), &d) // By is informative only
			h.Signals = append(h.Signals, dora.Signal{At: t, Kind: dora.SignalRollback, Release: r.ID, Service: r.Service, Environment: r.Environment, By: d.TriggeredBy})
		}
	}
	if err := rows.Err(); err != nil {
		return h, err
	}
	return h, nil
}

func earliest(cur *time.Time, t time.Time) *time.Time {
	if cur == nil || t.Before(*cur) {
		return &t
	}
	return cur
}

// flagSignal reads a flag.killed or flag.mitigated event: its service,
// environment, key and the release it names, if any.
func flagSignal(at time.Time, action, details string, f DORAFilter) (dora.Signal, bool) {
	var d struct {
		Service     string `json:"service"`
		Environment string `json:"environment"`
		Key         string `json:"key"`
		Release     int64  `json:"release"`
	}
	if err := json.Unmarshal([]byte(details), &d); err != nil || d.Service == "" {
		return dora.Signal{}, false
	}
	if f.Service != "" && d.Service != f.Service || f.Environment != "" && d.Environment != f.Environment {
		return dora.Signal{}, false
	}
	kind := dora.SignalFlagKill
	if action == shipgate.ActionFlagMitigated {
		kind = dora.SignalFlagMitigation
	}
	return dora.Signal{At: at, Kind: kind, Release: d.Release, Service: d.Service, Environment: d.Environment, Flag: d.Key}, true
}

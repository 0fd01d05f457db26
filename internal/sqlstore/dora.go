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
	shipgate.ActionReleaseQueued,    // approved: the last queue before the first start
	shipgate.ActionReleaseStarted,   // started: the first
	shipgate.ActionReleaseSucceeded, // succeeded: the first
	shipgate.ActionReleaseFailed,    // failed: the first
	shipgate.ActionRolloutStep,      // it served traffic
	shipgate.ActionRolloutAborted,   // canary aborted
	shipgate.ActionRollbackFired,    // a rollback of it fired
	shipgate.ActionProbeFailed,      // a health probe failed on it
	shipgate.ActionFlagKilled,       // kill switch
	shipgate.ActionFlagMitigated,    // a rollback policy's flag flip
}

// doraContent is the part of a release's content the history reads.
type doraContent struct {
	Source struct {
		CommittedAt *time.Time `json:"committed_at"`
	} `json:"source"`
	TriggeredBy string   `json:"triggered_by"`
	Owner       string   `json:"owner"`
	Flags       []string `json:"flags"`
	HotfixOf    int64    `json:"hotfix_of"`
}

// DORAHistory loads what dora.Compute needs for the window [since, until):
// the releases created from DORALookback before since up to until, with
// their times read from the audit chain, and the incident signals of that
// span. Two queries: the release rows, and the audit events of the
// actions in doraActions. A release's success falls back to its row's
// succeeded_at when the chain has no release.succeeded for it.
func (tx *Tx) DORAHistory(ctx context.Context, since, until time.Time, f DORAFilter) (dora.History, error) {
	h := dora.History{Releases: []dora.Release{}, Signals: []dora.Signal{}}
	from := since.Add(-DORALookback)
	q := `SELECT id, service, environment, version, kind, state, content, created_at, succeeded_at, rollback_of FROM releases WHERE created_at >= ? AND created_at < ?`
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
		var content string
		var created int64
		var succeeded, rollbackOf sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Service, &r.Environment, &r.Version, &r.Kind, &r.State, &content, &created, &succeeded, &rollbackOf); err != nil {
			rows.Close()
			return h, err
		}
		var c doraContent
		if err := json.Unmarshal([]byte(content), &c); err != nil {
			rows.Close()
			return h, fmt.Errorf("release %d content: %w", r.ID, err)
		}
		r.CreatedAt, r.SucceededAt, r.RollbackOf = fromMicros(created), fromNullMicros(succeeded), rollbackOf.Int64
		r.CommittedAt, r.TriggeredBy, r.Team, r.Flags, r.HotfixOf = c.Source.CommittedAt, c.TriggeredBy, c.Owner, c.Flags, c.HotfixOf
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
	rows, err = tx.query(ctx, `SELECT at, action, release_id, details FROM audit_events WHERE at >= ? AND at < ? AND action IN (`+ph+`) ORDER BY seq`, args...)
	if err != nil {
		return h, err
	}
	defer rows.Close()
	fromChain := map[int64]bool{} // releases whose success the chain records
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
		case shipgate.ActionReleaseQueued:
			if r.StartedAt == nil {
				r.ApprovedAt = &t
			}
		case shipgate.ActionReleaseStarted:
			if r.StartedAt == nil {
				r.StartedAt = &t
			}
		case shipgate.ActionReleaseSucceeded:
			if !fromChain[r.ID] {
				r.SucceededAt, fromChain[r.ID] = &t, true
			}
		case shipgate.ActionReleaseFailed:
			if r.FailedAt == nil {
				r.FailedAt = &t
			}
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
	return h, rows.Err()
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

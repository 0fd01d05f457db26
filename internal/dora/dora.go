package dora

import (
	"time"

	"github.com/shipgate/shipgate"
)

// Release is what Compute needs to know about one release. The store fills
// the times from the audit chain (see docs/metrics.md "Where each time
// comes from"); nil means the event never happened.
type Release struct {
	ID          int64  `json:"id"`
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Team is the service's owner group when the release was created.
	Team    string `json:"team,omitempty"`
	Version string `json:"version"`
	// Kind is "deploy" or "rollback".
	Kind       string `json:"kind"`
	State      string `json:"state"`
	RollbackOf int64  `json:"rollback_of,omitempty"`
	// HotfixOf is the release a hotfix release fixes forward (release
	// create --hotfix); 0 when it is no hotfix.
	HotfixOf int64    `json:"hotfix_of,omitempty"`
	Flags    []string `json:"flags,omitempty"`

	CommittedAt *time.Time `json:"committed_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	// ApprovedAt is when the release was first queued to run: its last
	// needed approval, or its creation when it needed none.
	ApprovedAt *time.Time `json:"approved_at,omitempty"`
	// StartedAt is its first run's start.
	StartedAt *time.Time `json:"started_at,omitempty"`
	// SucceededAt is its first success (a rerun that succeeds counts from
	// that run).
	SucceededAt *time.Time `json:"succeeded_at,omitempty"`
	// FailedAt is its first failure.
	FailedAt *time.Time `json:"failed_at,omitempty"`
	// ServedTraffic says a canary step put traffic on it before it
	// succeeded or failed (a rollout.step event).
	ServedTraffic bool `json:"served_traffic,omitempty"`
}

// SignalKind names an incident signal.
type SignalKind string

// Incident signals, each read from its audit action.
const (
	// SignalRollback: a rollback of the release was requested or
	// scheduled (rollback.pending, rollback.fired).
	SignalRollback SignalKind = "rollback"
	// SignalHealthGate: the release failed a job after it had served
	// traffic, or a health probe failed on it (release.failed, check.failed).
	SignalHealthGate SignalKind = "health_gate"
	// SignalCanaryAborted: its canary was aborted, traffic back on stable
	// (rollout.aborted).
	SignalCanaryAborted SignalKind = "canary_aborted"
	// SignalFlagKill: a flag of its service and environment was killed
	// (flag.killed) — the kill switch.
	SignalFlagKill SignalKind = "flag_kill"
	// SignalFlagMitigation: its rollback policy flipped a flag to its safe
	// variant (flag.mitigated).
	SignalFlagMitigation SignalKind = "flag_mitigation"
)

// Signal is one incident signal from the audit chain.
type Signal struct {
	At   time.Time  `json:"at"`
	Kind SignalKind `json:"kind"`
	// Release is the release the event names (its subject, or the
	// "release" of a flag change); 0 for a kill that names none.
	Release     int64  `json:"release,omitempty"`
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Flag is the killed or mitigated flag's key.
	Flag string `json:"flag,omitempty"`
	// By is "policy" or "user" for a rollback.
	By string `json:"by,omitempty"`
}

// History is everything Compute reads: releases (any order) and signals.
// The loader includes releases created before the window that matter to
// it (the version live at its start, the releases its hotfixes and
// rollbacks name).
type History struct {
	Releases []Release `json:"releases"`
	Signals  []Signal  `json:"signals"`
}

// Query selects what Compute reports on: the half-open window
// [Since, Until), optional filters, and the trend bucket.
type Query struct {
	Since       time.Time
	Until       time.Time
	Service     string
	Environment string
	Team        string
	// Bucket is the width of a trend bucket: Day or Week (the default).
	Bucket Bucket
	// MaxList, when positive, keeps at most that many of the newest
	// entries of each drill-down list (Report.Truncated says so).
	MaxList int
}

// Bucket is the width of the report's trend buckets.
type Bucket string

// Trend bucket widths.
const (
	Day  Bucket = "day"
	Week Bucket = "week"
)

// ParseBucket reads a bucket name; "" is a week.
func ParseBucket(s string) (Bucket, bool) {
	switch Bucket(s) {
	case "", Week:
		return Week, true
	case Day:
		return Day, true
	}
	return "", false
}

func (b Bucket) width() time.Duration {
	if b == Day {
		return 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

// The report types live in the root package so the public client can
// return them; these names keep this package's API short.
type (
	Report     = shipgate.DORAReport
	Metrics    = shipgate.DORAMetrics
	Stages     = shipgate.DORAStages
	Duration   = shipgate.DORADuration
	Breakdown  = shipgate.DORABreakdown
	Trend      = shipgate.DORATrend
	Deployment = shipgate.DORADeployment
	Failure    = shipgate.DORAFailure
)

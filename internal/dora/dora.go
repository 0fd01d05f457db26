package dora

import "time"

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
	Kind        string `json:"kind"`
	State       string `json:"state"`
	RollbackOf  int64  `json:"rollback_of,omitempty"`
	TriggeredBy string `json:"triggered_by,omitempty"`
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

// Report is the computed metrics: the totals over everything selected, one
// Breakdown per service and environment (production first), trend buckets
// and the releases behind each number.
type Report struct {
	Since       time.Time   `json:"since"`
	Until       time.Time   `json:"until"`
	Service     string      `json:"service,omitempty"`
	Environment string      `json:"environment,omitempty"`
	Team        string      `json:"team,omitempty"`
	Bucket      Bucket      `json:"bucket"`
	Totals      Metrics     `json:"totals"`
	Breakdown   []Breakdown `json:"breakdown"`
	Trend       []Trend     `json:"trend"`
	// Deployments, Failures and Recoveries are the drill-down lists behind
	// the totals, oldest first.
	Deployments    []Deployment `json:"deployments"`
	Failures       []Failure    `json:"failures"`
	FailedAttempts []int64      `json:"failed_attempts"`
}

// Metrics are the five DORA numbers plus the counts they come from. A
// ratio or duration with nothing to measure is nil ("n/a"), never NaN.
type Metrics struct {
	Deployments int `json:"deployments"`
	// DeploymentsPerDay and DeploymentsPerWeek are Deployments over the
	// window's length.
	DeploymentsPerDay  float64 `json:"deployments_per_day"`
	DeploymentsPerWeek float64 `json:"deployments_per_week"`
	// FailedAttempts are releases that failed before serving traffic: not
	// deployments.
	FailedAttempts int `json:"failed_attempts"`

	LeadTime Stages `json:"lead_time"`

	// FailedDeployments are the window's deployments that caused a
	// failure; ChangeFailRate is FailedDeployments/Deployments.
	FailedDeployments int      `json:"failed_deployments"`
	ChangeFailRate    *float64 `json:"change_fail_rate"`

	// Failures detected in the window, how many recovered, and the
	// recovery time of those that did.
	Failures     int      `json:"failures"`
	Recovered    int      `json:"recovered"`
	Unrecovered  int      `json:"unrecovered"`
	RecoveryTime Duration `json:"recovery_time"`

	// Rework are deployments that are rollbacks or hotfixes; ReworkRate
	// is Rework/Deployments.
	Rework     int      `json:"rework"`
	ReworkRate *float64 `json:"rework_rate"`
}

// Stages are the lead time and its parts, each over the deployments that
// have both ends.
type Stages struct {
	// CommitToSucceeded is the change lead time: --committed-at to the
	// first success in that environment.
	CommitToSucceeded Duration `json:"commit_to_succeeded"`
	// WithoutCommitTime counts deployments created without
	// --committed-at, left out of CommitToSucceeded.
	WithoutCommitTime  int      `json:"without_commit_time"`
	CreatedToSucceeded Duration `json:"created_to_succeeded"`
	// CreatedToApproved is the wait for approval (zero when none was
	// needed), ApprovedToStarted the queue, StartedToSucceeded the run.
	CreatedToApproved  Duration `json:"created_to_approved"`
	ApprovedToStarted  Duration `json:"approved_to_started"`
	StartedToSucceeded Duration `json:"started_to_succeeded"`
}

// Duration is a distribution of durations in seconds: nil percentiles
// when N is 0.
type Duration struct {
	N   int      `json:"n"`
	P50 *float64 `json:"p50_seconds"`
	P90 *float64 `json:"p90_seconds"`
}

// Breakdown is one service and environment's metrics.
type Breakdown struct {
	Service     string  `json:"service"`
	Environment string  `json:"environment"`
	Team        string  `json:"team,omitempty"`
	Metrics     Metrics `json:"metrics"`
}

// Trend is one bucket [Start, End) of the window.
type Trend struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Metrics Metrics   `json:"metrics"`
}

// Deployment is one deployment behind the numbers.
type Deployment struct {
	Release     int64     `json:"release"`
	Service     string    `json:"service"`
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	At          time.Time `json:"at"`
	// Rework is "rollback" or "hotfix" for a rework deployment.
	Rework string `json:"rework,omitempty"`
	// LeadSeconds is commit → succeeded; nil without a commit time or a
	// success.
	LeadSeconds *float64 `json:"lead_seconds,omitempty"`
	// Failed says it caused a failure (see Failures for why).
	Failed bool `json:"failed"`
}

// Failure is a deployment that caused a failure: why, when it was
// detected and how and when it was recovered.
type Failure struct {
	Release     int64      `json:"release"`
	Service     string     `json:"service"`
	Environment string     `json:"environment"`
	Version     string     `json:"version"`
	Causes      []string   `json:"causes"`
	DetectedAt  time.Time  `json:"detected_at"`
	RecoveredAt *time.Time `json:"recovered_at,omitempty"`
	// RecoveredBy is rollback, canary_abort, flag_kill, flag_mitigation,
	// fix_forward (a hotfix) or redeploy (any later good deployment);
	// RecoveredWith the release that did it, when one did.
	RecoveredBy     string   `json:"recovered_by,omitempty"`
	RecoveredWith   int64    `json:"recovered_with,omitempty"`
	RecoverySeconds *float64 `json:"recovery_seconds,omitempty"`
}

package shipgate

import "time"

// DORAReport is the DORA software delivery metrics (docs/metrics.md),
// computed by internal/dora from the audit chain: the totals over
// everything selected, one DORABreakdown per service and environment
// (production first), trend buckets and the releases behind each number.
type DORAReport struct {
	Since       time.Time       `json:"since"`
	Until       time.Time       `json:"until"`
	Service     string          `json:"service,omitempty"`
	Environment string          `json:"environment,omitempty"`
	Team        string          `json:"team,omitempty"`
	Bucket      string          `json:"bucket"`
	Totals      DORAMetrics     `json:"totals"`
	Breakdown   []DORABreakdown `json:"breakdown"`
	Trend       []DORATrend     `json:"trend"`
	// Deployments, Failures and FailedAttempts are the drill-down lists behind
	// the totals, oldest first.
	Deployments    []DORADeployment `json:"deployments"`
	Failures       []DORAFailure    `json:"failures"`
	FailedAttempts []int64          `json:"failed_attempts"`
	// Truncated says a drill-down list was cut to the query's list
	// limit (its newest entries kept); the numbers always count everything.
	Truncated bool `json:"truncated,omitempty"`
}

// DORAMetrics are the five DORA numbers plus the counts they come from. A
// ratio or duration with nothing to measure is nil ("n/a"), never NaN.
type DORAMetrics struct {
	Deployments int `json:"deployments"`
	// DeploymentsPerDay and DeploymentsPerWeek are Deployments over the
	// window's length.
	DeploymentsPerDay  float64 `json:"deployments_per_day"`
	DeploymentsPerWeek float64 `json:"deployments_per_week"`
	// FailedAttempts are releases that failed before serving traffic: not
	// deployments.
	FailedAttempts int `json:"failed_attempts"`

	LeadTime DORAStages `json:"lead_time"`

	// FailedDeployments are the window's deployments that caused a
	// failure; ChangeFailRate is FailedDeployments/Deployments.
	FailedDeployments int      `json:"failed_deployments"`
	ChangeFailRate    *float64 `json:"change_fail_rate"`

	// Failures detected in the window, how many recovered, and the
	// recovery time of those that did.
	Failures     int          `json:"failures"`
	Recovered    int          `json:"recovered"`
	Unrecovered  int          `json:"unrecovered"`
	RecoveryTime DORADuration `json:"recovery_time"`

	// Rework are deployments that are rollbacks or hotfixes; ReworkRate
	// is Rework/Deployments.
	Rework     int      `json:"rework"`
	ReworkRate *float64 `json:"rework_rate"`
}

// DORAStages are the lead time and its parts, each over the deployments that
// have both ends.
type DORAStages struct {
	// CommitToSucceeded is the change lead time: --committed-at to the
	// first success in that environment.
	CommitToSucceeded DORADuration `json:"commit_to_succeeded"`
	// WithoutCommitTime counts deployments created without
	// --committed-at, left out of CommitToSucceeded.
	WithoutCommitTime  int          `json:"without_commit_time"`
	CreatedToSucceeded DORADuration `json:"created_to_succeeded"`
	// CreatedToApproved is the wait for approval (zero when none was
	// needed), ApprovedToStarted the queue, StartedToSucceeded the run.
	CreatedToApproved  DORADuration `json:"created_to_approved"`
	ApprovedToStarted  DORADuration `json:"approved_to_started"`
	StartedToSucceeded DORADuration `json:"started_to_succeeded"`
}

// DORADuration is a distribution of durations in seconds: nil percentiles
// when N is 0.
type DORADuration struct {
	N   int      `json:"n"`
	P50 *float64 `json:"p50_seconds"`
	P90 *float64 `json:"p90_seconds"`
}

// DORABreakdown is one service and environment's metrics.
type DORABreakdown struct {
	Service     string      `json:"service"`
	Environment string      `json:"environment"`
	Team        string      `json:"team,omitempty"`
	Metrics     DORAMetrics `json:"metrics"`
}

// DORATrend is one bucket [Start, End) of the window.
type DORATrend struct {
	Start   time.Time   `json:"start"`
	End     time.Time   `json:"end"`
	Metrics DORAMetrics `json:"metrics"`
}

// DORADeployment is one deployment behind the numbers.
type DORADeployment struct {
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

// DORAFailure is a deployment that caused a failure: why, when it was
// detected and how and when it was recovered.
type DORAFailure struct {
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

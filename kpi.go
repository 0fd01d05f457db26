package shipgate

import (
	"time"
)

// Gate and rollout KPIs (docs/metrics.md "Gate and rollout KPIs"): how
// often each gate passes and fails and how often a failure was flaky, how
// long releases and jobs wait in the queue, how long canaries take and why
// they abort, what the judges said, and how much of the work is rework.
// internal/kpi computes them from the store's records; every figure
// carries the ids of the releases behind it, for drill-down.

// Gate kinds: what stood between a release and production.
const (
	GateKindJob       = "job"       // a pipeline job (deploys, health checks, tests)
	GateKindPolicy    = "policy"    // a policy point (create, approve, start, promote)
	GateKindChecklist = "checklist" // a checklist item, automated or ticked
	GateKindAnalysis  = "analysis"  // a rollout analysis metric
)

// DefaultKPIWindow is the window a KPI query covers when it names none.
const DefaultKPIWindow = 30 * 24 * time.Hour

// MaxKPIWindow bounds the window of one query: the figures are computed
// from every record of the window in one pass.
const MaxKPIWindow = 366 * 24 * time.Hour

// KPIFilter selects the releases KPIs are computed over: those created in
// [Since, Until), of Service, Environment and Team (the service's owner
// group frozen into the release) when set.
type KPIFilter struct {
	Service     string    `json:"service,omitempty"`
	Environment string    `json:"environment,omitempty"`
	Team        string    `json:"team,omitempty"`
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
}

// GateKPIs is the answer of GET /api/v1/metrics/gates.
type GateKPIs struct {
	Filter KPIFilter `json:"filter"`
	// Releases counts the releases of the window; ReleaseIDs lists them.
	Releases   int     `json:"releases"`
	ReleaseIDs []int64 `json:"release_ids"`
	// Gates are the pass/fail figures per gate, by kind then name.
	Gates []GateFigure `json:"gates"`
	// JobQueue is how long jobs waited queued before a runner started
	// them; ReleaseQueue how long releases waited queued (approved, or
	// rerun) before they started.
	JobQueue     DurationFigure `json:"job_queue"`
	ReleaseQueue DurationFigure `json:"release_queue"`
	Canaries     CanaryFigure   `json:"canaries"`
	// Judge counts the analysis decisions by metric, judge and verdict.
	Judge  []JudgeCount `json:"judge"`
	Rework ReworkFigure `json:"rework"`
	// Truncated says a list of release ids was cut to its newest entries
	// (the API keeps 1000 of each); the counts are whole.
	Truncated bool `json:"truncated,omitempty"`
}

// GateFigure is one gate's outcomes. Flaky counts the failures that
// passed later on the same digest; FlakinessRate is Flaky / Failed (0
// without failures).
type GateFigure struct {
	Kind           string  `json:"kind"`
	Name           string  `json:"name"`
	Passed         int     `json:"passed"`
	Failed         int     `json:"failed"`
	Flaky          int     `json:"flaky"`
	FlakinessRate  float64 `json:"flakiness_rate"`
	FailedReleases []int64 `json:"failed_releases"`
	FlakyReleases  []int64 `json:"flaky_releases"`
}

// DurationFigure summarises waits or durations in seconds (nearest-rank
// percentiles; all zero when Count is 0).
type DurationFigure struct {
	Count    int     `json:"count"`
	P50      float64 `json:"p50_seconds"`
	P90      float64 `json:"p90_seconds"`
	Mean     float64 `json:"mean_seconds"`
	Releases []int64 `json:"releases"`
}

// CanaryFigure counts progressive rollouts (one per job attempt that
// reported a rollout) and how they ended.
type CanaryFigure struct {
	Count     int `json:"count"`
	Completed int `json:"completed"`
	Aborted   int `json:"aborted"`
	// Duration is over the ended ones: first rollout event → completed or
	// aborted.
	Duration DurationFigure `json:"duration"`
	// AbortRate is Aborted / Count (0 without canaries).
	AbortRate       float64       `json:"abort_rate"`
	AbortReasons    []AbortReason `json:"abort_reasons"`
	Releases        []int64       `json:"releases"`
	AbortedReleases []int64       `json:"aborted_releases"`
}

// AbortReason groups aborts by cause: "metric NAME" when an analysis
// verdict on that metric stopped the canary, else the agent's reason.
type AbortReason struct {
	Cause    string  `json:"cause"`
	Count    int     `json:"count"`
	Releases []int64 `json:"releases"`
}

// JudgeCount counts one verdict of one judge on one metric.
type JudgeCount struct {
	Metric   string  `json:"metric"`
	Judge    string  `json:"judge"`
	Verdict  string  `json:"verdict"`
	Count    int     `json:"count"`
	Releases []int64 `json:"releases"`
}

// ReworkFigure counts the releases of the window that redo earlier work:
// rollbacks and hotfixes. Rate is (Rollbacks + Hotfixes) / Releases.
type ReworkFigure struct {
	Rollbacks        int     `json:"rollbacks"`
	Hotfixes         int     `json:"hotfixes"`
	Rate             float64 `json:"rate"`
	RollbackReleases []int64 `json:"rollback_releases"`
	HotfixReleases   []int64 `json:"hotfix_releases"`
}

// ParseKPIWindow reads a window such as "30d", "12h" or "90m" (days are
// 24 hours); "" is DefaultKPIWindow. It must be positive and at most
// MaxKPIWindow.
func ParseKPIWindow(s string) (time.Duration, error) {
	if s == "" {
		return DefaultKPIWindow, nil
	}
	d, err := ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, Errorf(EINVALID, "since %q is not a window: use a positive number of days, hours or minutes such as 30d, 12h or 90m, or an RFC 3339 time; it is neither an RFC 3339 time nor a period", s)
	}
	if d.Std() > MaxKPIWindow {
		return 0, Errorf(EINVALID, "since %q is longer than the longest window, 366d", s)
	}
	return d.Std(), nil
}

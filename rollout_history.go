package shipgate

import "time"

// A rollout's history is what the rollout view charts: one RolloutPoint
// per status report the server stored, bounded per attempt (see
// MaxRolloutPoints), and every analysis decision with its reason.

// MaxRolloutPoints bounds the history kept of one rollout attempt. An agent
// reports every second, so a rollout of an hour would need 3,600 points:
// once an attempt holds more than MaxRolloutPoints, every second point of
// its older half is dropped, so old history grows coarser while the last
// minutes keep every report. Points that mark a change (of step, weight or
// phase, or that carry a new decision) are never dropped: they are what a
// person reads the rollout by, and there are few of them (a strategy's
// steps, pauses and analyses).
const MaxRolloutPoints = 2000

// RolloutPoint is a rollout at one report: where it stood and what the
// router and the running analyses had counted by then.
type RolloutPoint struct {
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	Step   int       `json:"step"`
	Weight int       `json:"weight"`
	Phase  string    `json:"phase"`
	// Traffic is each version's cumulative counts since the rollout
	// started, as the report had them.
	Traffic []VersionTraffic `json:"traffic,omitempty"`
	// Progress is where each running analysis part stood.
	Progress []AnalysisProgress `json:"progress,omitempty"`
	// Mark says the point records a change (step, weight, phase or a new
	// decision), so thinning keeps it.
	Mark bool `json:"mark,omitempty"`
}

// AnalysisProgress is where one running part of an analysis stands,
// reported with every status so the evidence can be followed over time,
// not only read at the decision. A sequential judge gives its e-values and
// the thresholds they must reach to roll back; a threshold metric its
// latest measurement and that measurement's result against the metric's
// conditions.
type AnalysisProgress struct {
	Step       int    `json:"step"`
	Background bool   `json:"background,omitempty"`
	Judge      string `json:"judge"`  // "sequential" or "threshold"
	Metric     string `json:"metric"` // the metric's name; "errors+latency" for sequential
	// E holds a sequential judge's e-values by kind ("errors", "slow",
	// "tail"), Threshold the value each must reach for a rollback.
	E         map[string]float64 `json:"e,omitempty"`
	Threshold map[string]float64 `json:"threshold,omitempty"`
	// Values is a threshold metric's latest measurement and Result its
	// phase (successful, failed, inconclusive or error).
	Values []float64 `json:"values,omitempty"`
	Result string    `json:"result,omitempty"`
}

// RolloutHistory is the history of one rollout attempt: its points, oldest
// first, and every decision the server kept, in time order.
type RolloutHistory struct {
	Job       string             `json:"job"`
	Attempt   int                `json:"attempt"`
	Points    []RolloutPoint     `json:"points"`
	Decisions []AnalysisDecision `json:"decisions"`
}

package analysis

// Arms of a canary rollout.
const (
	Stable = iota
	Baseline
	Canary
	NumArms
)

// ArmTick is what the router counted for one arm in one second.
type ArmTick struct {
	Requests int
	Errors   int
	// Slow counts requests slower than the stable arm's recent p90.
	Slow int
	// Tail counts requests slower than the stable arm's recent p99: the
	// signal of a regression in the tail alone (p99 moves, p90 does not).
	Tail int
	// LatencySum is the sum of latencies in milliseconds.
	LatencySum float64
}

// Tick is one second of counters for every arm.
type Tick struct {
	Second int
	Arms   [NumArms]ArmTick
}

// Verdict is a judge's decision after a tick.
type Verdict struct {
	Rollback bool
	// Reason explains the decision in one sentence.
	Reason string
}

// Judge decides, tick by tick, whether a canary must be rolled back.
// Judges are not safe for concurrent use; make one per canary.
type Judge interface {
	Name() string
	Observe(t *Tick) Verdict
}

// JudgeEnv is what a judge may know besides the counters: the stable
// arm's latency profile, as a real judge would learn it from history (the
// judge benchmark, internal/judgesim, derives it from its scenario).
type JudgeEnv struct {
	// BaselineMeanLatency is the stable arm's mean latency in ms.
	BaselineMeanLatency float64
	// Warmup is how many seconds after the canary starts (and, for judges
	// that support it, after each weight change) are not judged: shipgate's
	// warm-up (NewWarmup), Argo's initialDelay, Kayenta's begin-after.
	Warmup int
}

package shipgate

import (
	"time"
)

// ServiceProcess makes a job a supervised service: the agent runs the
// release's artifact as a long-lived process, restarts it when it crashes,
// probes its health, and fronts it with its traffic router on Listen. A
// job with a service moves traffic to the new version by its Strategy (or,
// without one, all at once once the new version is healthy), and keeps the
// previous version's process until the rollout is final.
type ServiceProcess struct {
	// Exec is the argv, run without a shell in the unpacked artifact's
	// directory. ${PORT} (the instance's own port), ${VERSION} and
	// ${ARTIFACT_PATH} are substituted in every argument; nothing from
	// release inputs is ever substituted.
	Exec []string `json:"exec"`
	// Env adds variables to the process's environment (besides PORT and the
	// SHIPGATE_* variables steps get).
	Env map[string]string `json:"env,omitempty"`
	// Listen is the router's front address for this service, such as
	// "127.0.0.1:8080" or ":8080".
	Listen string `json:"listen"`
	// Health probes an instance before it receives traffic and while it
	// runs. Nil means a TCP connect to the instance's port.
	Health *ServiceHealth `json:"health,omitempty"`
	// StopGrace is how long a stopped instance gets between SIGTERM and
	// SIGKILL; 0 means DefaultStopGrace.
	StopGrace Duration `json:"stop_grace,omitempty"`
	// StartTimeout bounds the wait for a new instance to become healthy; 0
	// means DefaultStartTimeout.
	StartTimeout Duration `json:"start_timeout,omitempty"`
}

// Defaults for supervised services.
const (
	DefaultStopGrace    = Duration(10 * time.Second)
	DefaultStartTimeout = Duration(60 * time.Second)
)

// ServiceHealth is an HTTP health probe of one instance: GET
// http://127.0.0.1:PORT{Path} must answer 2xx.
type ServiceHealth struct {
	Path     string   `json:"path"`
	Interval Duration `json:"interval,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"`
}

// Strategy says how traffic moves from the stable version to the new one.
// Exactly one of Canary and BlueGreen is set.
type Strategy struct {
	Canary    *CanaryStrategy    `json:"canary,omitempty"`
	BlueGreen *BlueGreenStrategy `json:"blue_green,omitempty"`
}

// CanaryStrategy shifts a share of live traffic to the new version step by
// step. BackgroundAnalysis runs from the first step to the last; a failure
// in it, or in a step's analysis, aborts the rollout.
type CanaryStrategy struct {
	Steps              []CanaryStep `json:"steps"`
	BackgroundAnalysis *Analysis    `json:"background_analysis,omitempty"`
}

// CanaryStep is one step of a canary: exactly one of its fields is set.
type CanaryStep struct {
	// SetWeight is the canary's share of traffic in percent, 0–100.
	SetWeight *int `json:"set_weight,omitempty"`
	// Pause waits for a duration, or (Duration 0) for `shipgate promote`.
	Pause *Pause `json:"pause,omitempty"`
	// Analysis blocks until it passes; failing aborts the rollout, an
	// inconclusive result pauses it for a person to promote or cancel.
	Analysis *Analysis `json:"analysis,omitempty"`
}

// Pause is a canary step that waits. A zero Duration waits for a person:
// `shipgate promote ID`.
type Pause struct {
	Duration Duration `json:"duration,omitempty"`
}

// Manual reports whether the pause waits for a person.
func (p *Pause) Manual() bool { return p.Duration == 0 }

// BlueGreenStrategy starts the new version beside the stable one, reachable
// only on the Preview address, optionally analyses it there, then switches
// all traffic at once. The old version keeps running for ScaleDownDelay so
// that a rollback is a switch back.
type BlueGreenStrategy struct {
	Preview        string    `json:"preview"`
	Analysis       *Analysis `json:"analysis,omitempty"`
	ScaleDownDelay Duration  `json:"scale_down_delay,omitempty"`
}

// Analysis measures the new version while it runs: the sequential judge
// on the router's own counters, and/or threshold metrics from any
// provider. The analysis fails when any part fails.
type Analysis struct {
	Sequential *SequentialAnalysis `json:"sequential,omitempty"`
	Metrics    []AnalysisMetric    `json:"metrics,omitempty"`
}

// SequentialAnalysis compares the canary with all stable traffic second by
// second with an anytime-valid test: the chance it ever rolls back a
// canary no worse than stable stays below Alpha however long it watches.
type SequentialAnalysis struct {
	// Alpha is the false-rollback bound; 0 means DefaultAlpha.
	Alpha float64 `json:"alpha,omitempty"`
	// Duration is how long a blocking analysis watches before it passes;
	// 0 means DefaultSequentialDuration. A background analysis watches
	// until the rollout ends.
	Duration Duration `json:"duration,omitempty"`
	// Warmup is how long after the canary starts taking traffic, and after
	// each change of its weight, the judge does not judge (in whole
	// seconds, rounded up): cold caches and connection setup are the
	// user's to forgive or not. 0, the default, judges from the first
	// second; at most MaxSequentialWarmup.
	Warmup Duration `json:"warmup,omitempty"`
}

// Defaults of the sequential judge.
const (
	DefaultAlpha              = 0.01
	DefaultSequentialDuration = Duration(60 * time.Second)
)

// AnalysisMetric is one threshold metric with Argo Rollouts' semantics: a
// measurement every Interval, Count times (0 with an Interval: until the
// rollout ends), after InitialDelay. Each is Successful, Failed,
// Inconclusive (neither condition holds) or Error (the provider failed).
// The metric fails when failures exceed FailureLimit or consecutive errors
// exceed ConsecutiveErrorLimit, and is inconclusive when inconclusive
// results exceed InconclusiveLimit.
type AnalysisMetric struct {
	Name             string         `json:"name"`
	Provider         MetricProvider `json:"provider"`
	Interval         Duration       `json:"interval,omitempty"`
	Count            int            `json:"count,omitempty"`
	InitialDelay     Duration       `json:"initial_delay,omitempty"`
	SuccessCondition string         `json:"success_condition,omitempty"`
	FailureCondition string         `json:"failure_condition,omitempty"`
	FailureLimit     int            `json:"failure_limit,omitempty"`
	// ConsecutiveErrorLimit is nil for the default (4), as in Argo.
	ConsecutiveErrorLimit *int `json:"consecutive_error_limit,omitempty"`
	InconclusiveLimit     int  `json:"inconclusive_limit,omitempty"`
}

// DefaultConsecutiveErrorLimit is Argo Rollouts' default.
const DefaultConsecutiveErrorLimit = 4

// MetricProvider says where a metric's value comes from: exactly one field
// is set.
type MetricProvider struct {
	Builtin    *BuiltinMetric    `json:"builtin,omitempty"`
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	HTTP       *HTTPMetric       `json:"http,omitempty"`
}

// BuiltinMetric reads the traffic router's own counters of one version.
type BuiltinMetric struct {
	// Metric is one of BuiltinMetrics.
	Metric string `json:"metric"`
	// Version is "canary" (default) or "stable".
	Version string `json:"version,omitempty"`
	// Window is how far back the counters reach; 0 means the interval (or
	// 60s).
	Window Duration `json:"window,omitempty"`
}

// BuiltinMetrics are the metrics the router counts.
var BuiltinMetrics = []string{"error_rate", "requests", "requests_per_second", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms"}

// PrometheusMetric is a PromQL query against Prometheus's HTTP API: an
// instant query, or with Range a range query over the last Range at Step.
// The result is the list of sample values (result[0], result[1], …).
type PrometheusMetric struct {
	Address string   `json:"address"`
	Query   string   `json:"query"`
	Range   Duration `json:"range,omitempty"`
	Step    Duration `json:"step,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
}

// MaxPrometheusPoints is how many points per series Prometheus returns
// from one range query at most (messages spell it "11,000").
const MaxPrometheusPoints = 11000

// EffectiveStep is the resolution of a range query: Step, or about 60
// points over Range, at least a second apart; 0 for an instant query.
func (m *PrometheusMetric) EffectiveStep() time.Duration {
	switch {
	case m.Range <= 0:
		return 0
	case m.Step > 0:
		return m.Step.Std()
	}
	return max(time.Second, (m.Range.Std() / 60).Truncate(time.Second))
}

// HTTPMetric GETs a JSON document and takes the number at JSONPath
// ("data.error_rate", "items[0].value", optionally "$."-prefixed).
type HTTPMetric struct {
	URL      string            `json:"url"`
	JSONPath string            `json:"json_path"`
	Headers  map[string]string `json:"headers,omitempty"`
	Timeout  Duration          `json:"timeout,omitempty"`
}

// Rollout phases, as the agent running a rollout reports them.
const (
	RolloutStarting    = "starting"    // new instance starting and being probed
	RolloutProgressing = "progressing" // moving through the steps
	RolloutPaused      = "paused"      // waiting for `shipgate promote`
	RolloutPromoted    = "promoted"    // the new version takes all traffic
	RolloutAborted     = "aborted"     // traffic back on stable, canary stopped
)

// Analysis phases of a decision.
const (
	AnalysisSuccessful   = "successful"
	AnalysisFailed       = "failed"
	AnalysisInconclusive = "inconclusive"
	AnalysisError        = "error"
)

// RolloutStatus is what the agent running a rollout reports to the server,
// every second and on every change. Seq grows with each report of an
// attempt, so a late report never overwrites a newer one.
type RolloutStatus struct {
	Seq      int64  `json:"seq"`
	Strategy string `json:"strategy"` // "canary", "blue_green" or "replace"
	Phase    string `json:"phase"`
	// Step is the current step, numbered from 1 as people count: step 1 is
	// the strategy's first (a blue-green rollout is step 1 of 1); 0 before
	// the first step and for a rollout without steps. Steps is how many
	// there are. The job's reason ("aborted at step N"), the audit events
	// and the decisions use the same numbers (see StepBase).
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Weight is the new version's share of traffic in percent now.
	Weight        int    `json:"weight"`
	StableVersion string `json:"stable_version,omitempty"`
	CanaryVersion string `json:"canary_version,omitempty"`
	// Paused, when set, says why the rollout waits for `shipgate promote`.
	Paused string `json:"paused,omitempty"`
	// Pause numbers the rollout's pauses for a person (1, 2, …; one step
	// can pause more than once, e.g. an inconclusive analysis after a
	// manual pause); it is the current one while Phase is paused.
	Pause int `json:"pause,omitempty"`
	// PauseUntil is the end of a timed pause.
	PauseUntil *time.Time `json:"pause_until,omitempty"`
	Message    string     `json:"message,omitempty"`
	// Decisions are the analysis results so far (the latest ones).
	Decisions []AnalysisDecision `json:"decisions,omitempty"`
	// Progress is where each analysis part running now stands (its
	// e-values or its latest measurement), for the history's charts.
	Progress []AnalysisProgress `json:"progress,omitempty"`
	// Traffic counts what the router saw per version since the rollout
	// started.
	Traffic   []VersionTraffic `json:"traffic,omitempty"`
	UpdatedAt time.Time        `json:"updated_at"`
}

// VersionTraffic is what the router counted for one version.
type VersionTraffic struct {
	Version string `json:"version"`
	Role    string `json:"role"` // "stable" or "canary"
	// Requests and Errors (5xx and transport errors) since the rollout
	// started.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// Slow counts, since the rollout started, the requests slower than
	// the stable version's p90 latency over the minute before each second
	// — the sequential judge's "slow". A second counts no slow requests
	// while stable served fewer than 50 requests in the minute before it,
	// too few for its p90 to mean anything.
	Slow  int64   `json:"slow"`
	P50MS float64 `json:"p50_ms"`
	P90MS float64 `json:"p90_ms"`
}

// AnalysisDecision is one judged result of an analysis, with the evidence
// it rests on and a sentence explaining it.
type AnalysisDecision struct {
	At time.Time `json:"at"`
	// Step is the step the decision belongs to, numbered from 1 as people
	// count (see RolloutStatus.Step). For a background decision it is the
	// step the rollout was at when the decision was acted on — the step an
	// abort it causes names too.
	Step int `json:"step"`
	// Background marks a decision of the background analysis, which
	// watches every step rather than belonging to one.
	Background bool           `json:"background,omitempty"`
	Judge      string         `json:"judge"`  // "sequential" or "threshold"
	Metric     string         `json:"metric"` // the metric's name; "errors+latency" for sequential
	Phase      string         `json:"phase"`
	Summary    string         `json:"summary"`
	Evidence   map[string]any `json:"evidence,omitempty"`
}

// RolloutReply tells the agent what people decided about its rollout.
type RolloutReply struct {
	// PromotedThrough is the highest pause number (RolloutStatus.Pause) a
	// person promoted with `shipgate promote`; -1 when none.
	PromotedThrough int `json:"promoted_through"`
}

// Rollout is the latest status an attempt reported of its rollout, as the
// server keeps it and the API answers it (client and store share it).
type Rollout struct {
	JobID   int64  `json:"-"`
	Job     string `json:"job"`
	Attempt int    `json:"attempt"`
	// PromotedThrough is the highest pause number (Status.Pause) a person
	// promoted with `shipgate promote`; -1 when none.
	PromotedThrough int           `json:"promoted_through"`
	Status          RolloutStatus `json:"status"`
	// UpdatedAt is when the server stored the status.
	UpdatedAt time.Time `json:"updated_at"`
}

package judgesim

import (
	"fmt"
	"math"

	"github.com/shipgate/shipgate/internal/analysis"
)

// Expectations a scenario can state as its ground truth.
const (
	ExpectPromote  = "promote"
	ExpectRollback = "rollback"
)

// ArmModel is how one arm behaves over time.
type ArmModel struct {
	// ErrorRate is the probability that a request fails.
	ErrorRate Curve
	// LatencyMultiplier scales the arm's latency median.
	LatencyMultiplier Curve
	// Tail slows the arm's slowest requests only (zero: no tail shape).
	Tail LatencyTail
	// Stalls are the arm's own process hiccups (zero: none).
	Stalls Stalls
}

// LatencyTail is a regression in the tail alone: requests whose healthy
// latency draw lies above the Above quantile of the healthy distribution
// take Multiplier times as long. Below that quantile nothing changes, so
// with Above 0.9 the p50 to p90 stay put and the p99 moves.
type LatencyTail struct {
	Above      float64 // quantile in (0, 1)
	Multiplier float64 // factor on the latency of those requests
}

// active reports whether the tail shape changes anything.
func (t LatencyTail) active() bool { return t.Above > 0 && t.Multiplier > 0 && t.Multiplier != 1 }

// Stalls are per-process hiccups (a GC pause, a full connection pool, a
// slow disk): every second, independently for each arm, with
// ChancePerSecond the arm's process stalls, and in that second FailShare
// of its requests fail and SlowShare of them wait out the pause. A request
// slowed by a stall takes its own time plus a healthy arm's p99, so it
// counts as slow and in the tail.
type Stalls struct {
	ChancePerSecond float64
	FailShare       float64
	SlowShare       float64
}

// Telemetry modes: what happens to the counters of a missing second.
const (
	TelemetryDrop = "drop" // never arrive: the judges get no tick
	TelemetryLump = "lump" // arrive with the next second's tick, added to it
)

// Telemetry is how reliably the counters reach the judges: each second,
// with MissingPerSecond, the second's counters do not arrive on time.
type Telemetry struct {
	MissingPerSecond float64
	Mode             string // TelemetryDrop or TelemetryLump
}

// Bursts are correlated errors: every second, with ChancePerSecond, Size
// of one arm's successful requests fail together. The arm is drawn in
// proportion to its share of traffic, so bursts are no worse for the
// canary than for stable.
type Bursts struct {
	ChancePerSecond float64
	Size            int
}

// Scenario is one synthetic canary: traffic, how each arm behaves over
// time, and the ground truth a judge should reach. The arms are the canary
// (CanaryWeight of the traffic), a baseline of the same size (for judges
// that compare against a dedicated baseline, as Kayenta does) and stable,
// the rest.
type Scenario struct {
	Name        string
	Description string
	// Expect is ExpectPromote or ExpectRollback.
	Expect string
	// Duration is the canary's length in seconds; a canary not rolled back
	// by then is promoted.
	Duration int
	// Rate is the total requests per second over time.
	Rate Curve
	// CanaryWeight is the canary's share of traffic over time, above 0 and
	// at most 0.5; the baseline gets as much again, stable the rest (none
	// at 0.5). A constant weight must be below 0.5.
	CanaryWeight Curve
	// LatencyMedian (ms) and LatencySigma describe the log-normal latency of
	// a healthy arm; a request is slow when it takes longer than a healthy
	// arm's p90.
	LatencyMedian float64
	LatencySigma  float64
	Arms          [analysis.NumArms]ArmModel
	Bursts        Bursts
	Telemetry     Telemetry
	// Warmup is the judges' warm-up in seconds (analysis.JudgeEnv.Warmup):
	// shipgate's warm-up, Argo's initialDelay, Kayenta's begin-after.
	Warmup int
}

// Scenario defaults, as the judge benchmark specifies them.
const (
	DefaultDuration      = 30 * 60
	DefaultRate          = 1000
	DefaultCanaryWeight  = 0.05
	DefaultErrorRate     = 0.005
	DefaultLatencyMedian = 100
	DefaultLatencySigma  = 0.5
)

// ArmNames names the arms as scenario files do.
var ArmNames = [analysis.NumArms]string{analysis.Stable: "stable", analysis.Baseline: "baseline", analysis.Canary: "canary"}

// Validate reports what is wrong with a scenario, or nil.
func (s *Scenario) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if s.Expect != ExpectPromote && s.Expect != ExpectRollback {
		bad("expect must be %q or %q", ExpectPromote, ExpectRollback)
	}
	if s.Duration <= 0 || s.Duration > 7*24*3600 {
		bad("duration must be between 1s and 168h")
	}
	checkCurve := func(name string, c Curve, ok func(float64) bool, want string) {
		if len(c.Points) == 0 {
			bad("%s is missing", name)
		}
		for i, p := range c.Points {
			if math.IsNaN(p.Value) || !ok(p.Value) {
				bad("%s must be %s", name, want)
			}
			if i > 0 && !(p.At > c.Points[i-1].At) {
				bad("%s points must be in increasing time order", name)
			}
		}
	}
	checkCurve("rate", s.Rate, func(v float64) bool { return v > 0 && v <= 1e7 }, "above 0 and at most 10,000,000 requests per second")
	if len(s.CanaryWeight.Points) == 1 {
		checkCurve("canary_weight", s.CanaryWeight, func(v float64) bool { return v > 0 && v < 0.5 },
			"above 0% and below 50% (a baseline of the same size is simulated too)")
	} else {
		checkCurve("canary_weight", s.CanaryWeight, func(v float64) bool { return v > 0 && v <= 0.5 },
			"above 0% and at most 50% in a schedule (a baseline of the same size is simulated too)")
	}
	if !(s.LatencyMedian > 0) || !(s.LatencySigma > 0) || s.LatencySigma > 5 {
		bad("latency median must be above 0 and sigma between 0 and 5")
	}
	for arm, m := range s.Arms {
		for _, c := range []struct {
			name   string
			curve  Curve
			lo, hi float64
		}{{"error_rate", m.ErrorRate, 0, 1}, {"latency_multiplier", m.LatencyMultiplier, 1e-3, 1e3}} {
			if len(c.curve.Points) == 0 {
				bad("%s.%s is missing", ArmNames[arm], c.name)
			}
			for i, p := range c.curve.Points {
				if math.IsNaN(p.Value) || p.Value < c.lo || p.Value > c.hi {
					bad("%s.%s must be between %g and %g", ArmNames[arm], c.name, c.lo, c.hi)
				}
				if i > 0 && !(p.At > c.curve.Points[i-1].At) {
					bad("%s.%s points must be in increasing time order", ArmNames[arm], c.name)
				}
			}
		}
		if t := m.Tail; t != (LatencyTail{}) && (!(t.Above > 0 && t.Above < 1) || !(t.Multiplier >= 1e-3 && t.Multiplier <= 1e3)) {
			bad("%s.latency_tail needs above between 0 and 1 (exclusive) and multiplier between 0.001 and 1000", ArmNames[arm])
		}
		st := m.Stalls
		for _, v := range []float64{st.ChancePerSecond, st.FailShare, st.SlowShare} {
			if math.IsNaN(v) || v < 0 || v > 1 {
				bad("%s.stalls chance_per_second, fail_share and slow_share must be between 0%% and 100%%", ArmNames[arm])
				break
			}
		}
		if st.ChancePerSecond > 0 && st.FailShare == 0 && st.SlowShare == 0 {
			bad("%s.stalls need fail_share or slow_share above 0", ArmNames[arm])
		}
	}
	if tm := s.Telemetry; math.IsNaN(tm.MissingPerSecond) || tm.MissingPerSecond < 0 || tm.MissingPerSecond >= 1 {
		bad("telemetry.missing_per_second must be at least 0%% and below 100%%")
	} else if tm.MissingPerSecond > 0 && tm.Mode != TelemetryDrop && tm.Mode != TelemetryLump {
		bad("telemetry.mode must be %q or %q", TelemetryDrop, TelemetryLump)
	}
	if s.Warmup < 0 || (s.Duration > 0 && s.Warmup >= s.Duration) {
		bad("judge.warmup must not be negative and must be shorter than the duration")
	}
	if s.Bursts.ChancePerSecond < 0 || s.Bursts.ChancePerSecond > 1 || s.Bursts.Size < 0 {
		bad("bursts.chance_per_second must be between 0%% and 100%% and bursts.size not negative")
	}
	if len(problems) > 0 {
		return fmt.Errorf("scenario %s: %s", s.Name, joinProblems(problems))
	}
	return nil
}

func joinProblems(ps []string) string {
	out := ""
	for i, p := range ps {
		if i > 0 {
			out += "; "
		}
		out += p
	}
	return out
}

// share is each arm's expected share of traffic at a canary weight.
func share(weight float64) [analysis.NumArms]float64 {
	var sh [analysis.NumArms]float64
	sh[analysis.Canary] = weight
	sh[analysis.Baseline] = weight
	sh[analysis.Stable] = max(0, 1-2*weight)
	return sh
}

// HealthyMeanLatency is a healthy arm's mean latency in ms.
func (s *Scenario) HealthyMeanLatency() float64 {
	return s.LatencyMedian * math.Exp(s.LatencySigma*s.LatencySigma/2)
}

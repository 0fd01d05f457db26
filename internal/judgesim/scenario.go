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
	// Rate is the total requests per second.
	Rate float64
	// CanaryWeight is the canary's share of traffic, in (0, 0.5).
	CanaryWeight float64
	// LatencyMedian (ms) and LatencySigma describe the log-normal latency of
	// a healthy arm; a request is slow when it takes longer than a healthy
	// arm's p90.
	LatencyMedian float64
	LatencySigma  float64
	Arms          [analysis.NumArms]ArmModel
	Bursts        Bursts
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
	if !(s.Rate > 0) || s.Rate > 1e7 {
		bad("rate must be above 0 and at most 10,000,000 requests per second")
	}
	if !(s.CanaryWeight > 0 && s.CanaryWeight < 0.5) {
		bad("canary_weight must be above 0%% and below 50%% (a baseline of the same size is simulated too)")
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

// share is each arm's expected share of traffic.
func (s *Scenario) share() [analysis.NumArms]float64 {
	var sh [analysis.NumArms]float64
	sh[analysis.Canary] = s.CanaryWeight
	sh[analysis.Baseline] = s.CanaryWeight
	sh[analysis.Stable] = 1 - 2*s.CanaryWeight
	return sh
}

// HealthyMeanLatency is a healthy arm's mean latency in ms.
func (s *Scenario) HealthyMeanLatency() float64 {
	return s.LatencyMedian * math.Exp(s.LatencySigma*s.LatencySigma/2)
}

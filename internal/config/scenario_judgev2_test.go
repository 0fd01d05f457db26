package config

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/judgesim"
)

// TestParseScenarioNewKeys reads every key issue 12 added: schedules for
// rate and canary_weight, latency_tail, stalls (under all and per arm),
// telemetry and judge.warmup.
func TestParseScenarioNewKeys(t *testing.T) {
	src := `expect: rollback
duration: 20m
rate:
  ramp:
    - {at: 0s, value: 100}
    - {at: 10m, value: 1000}
canary_weight:
  steps:
    - {at: 0s, value: 5%}
    - {at: 5m, value: 25%}
    - {at: 10m, value: 50%}
all:
  stalls: {chance_per_second: 2%, fail_share: 0.2}
canary:
  latency_tail: {above: 0.9, multiplier: 1.5}
  stalls: {chance_per_second: 0.05, fail_share: 50%, slow_share: 10%}
telemetry: {missing_per_second: 20%, mode: lump}
judge: {warmup: 30s}
`
	s, err := ParseScenario("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Rate.At(300); got != 550 {
		t.Errorf("rate at 5m = %v, want 550 (ramp)", got)
	}
	if a, b, c := s.CanaryWeight.At(299), s.CanaryWeight.At(300), s.CanaryWeight.At(900); a != 0.05 || b != 0.25 || c != 0.5 {
		t.Errorf("weights %v %v %v", a, b, c)
	}
	if tl := s.Arms[analysis.Canary].Tail; tl != (judgesim.LatencyTail{Above: 0.9, Multiplier: 1.5}) {
		t.Errorf("tail %+v", tl)
	}
	if tl := s.Arms[analysis.Stable].Tail; tl != (judgesim.LatencyTail{}) {
		t.Errorf("stable has a tail %+v", tl)
	}
	if st := s.Arms[analysis.Stable].Stalls; st != (judgesim.Stalls{ChancePerSecond: 0.02, FailShare: 0.2}) {
		t.Errorf("stable stalls (from all) %+v", st)
	}
	if st := s.Arms[analysis.Canary].Stalls; st != (judgesim.Stalls{ChancePerSecond: 0.05, FailShare: 0.5, SlowShare: 0.1}) {
		t.Errorf("canary stalls %+v", st)
	}
	if s.Telemetry != (judgesim.Telemetry{MissingPerSecond: 0.2, Mode: judgesim.TelemetryLump}) {
		t.Errorf("telemetry %+v", s.Telemetry)
	}
	if s.Warmup != 30 {
		t.Errorf("warmup %d", s.Warmup)
	}
	// Defaults: telemetry mode drop; no warm-up; constant rate and weight.
	s, err = ParseScenario("x.yaml", []byte("expect: promote\ntelemetry: {missing_per_second: 1%}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Telemetry.Mode != judgesim.TelemetryDrop || s.Warmup != 0 || s.Rate.At(1e6) != 1000 || s.CanaryWeight.At(0) != 0.05 {
		t.Errorf("defaults %+v", s)
	}
}

func TestParseScenarioNewKeyErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"rate point zero", "expect: promote\nrate:\n  steps:\n    - {at: 0s, value: 100}\n    - {at: 1m, value: 0}\n", "x.yaml:5: rate must be above 0 and at most 10000000"},
		{"rate percent", "expect: promote\nrate: {ramp: [{at: 0s, value: 5%}]}\n", `x.yaml:2: rate must be a number, not "5%"`},
		{"weight schedule over 50", "expect: promote\ncanary_weight:\n  steps:\n    - {at: 0s, value: 5%}\n    - {at: 1m, value: 60%}\n", "x.yaml:5: canary_weight must be above 0% and at most 50% in a schedule"},
		{"weight schedule zero", "expect: promote\ncanary_weight:\n  ramp:\n    - {at: 0s, value: 0}\n", "x.yaml:4: canary_weight must be above 0%"},
		{"constant weight 50", "expect: promote\ncanary_weight: 50%\n", "x.yaml:2: canary_weight must be above 0% and below 50%"},
		{"weight points unordered", "expect: promote\ncanary_weight:\n  steps:\n    - {at: 1m, value: 5%}\n    - {at: 1m, value: 25%}\n", "x.yaml:5: canary_weight points must be in increasing time order"},
		{"tail above 1", "expect: rollback\ncanary:\n  latency_tail: {above: 1, multiplier: 1.5}\n", "x.yaml:3: canary latency_tail above must be a quantile above 0 and below 1"},
		{"tail multiplier 0", "expect: rollback\ncanary:\n  latency_tail: {above: 0.9, multiplier: 0}\n", "x.yaml:3: canary latency_tail multiplier must be between 0.001 and 1000"},
		{"tail half", "expect: rollback\ncanary:\n  latency_tail:\n    above: 0.9\n", "x.yaml:4: canary latency_tail needs both above"},
		{"tail empty", "expect: rollback\ncanary:\n  latency_tail:\n", "x.yaml:3: canary latency_tail needs both above"},
		{"tail unknown", "expect: rollback\ncanary:\n  latency_tail: {above: 0.9, multiplyer: 2}\n", `x.yaml:3: unknown key "multiplyer" in canary latency_tail; did you mean "multiplier"?`},
		{"tail not mapping", "expect: rollback\ncanary:\n  latency_tail: 1.5\n", "x.yaml:3: canary latency_tail must be a mapping"},
		{"stall chance", "expect: promote\nall:\n  stalls: {chance_per_second: 120%, fail_share: 0.2}\n", "x.yaml:3: all stalls chance_per_second must be between 0% and 100%, not 120%"},
		{"stall share", "expect: promote\nstable:\n  stalls:\n    chance_per_second: 0.1\n    fail_share: -0.2\n", "x.yaml:5: stable stalls fail_share must be between 0% and 100%"},
		{"stall no effect", "expect: promote\ncanary:\n  stalls: {chance_per_second: 0.1}\n", "x.yaml:3: canary stalls need fail_share or slow_share above 0"},
		{"stall unknown", "expect: promote\ncanary:\n  stalls: {chance: 0.1}\n", `x.yaml:3: unknown key "chance" in canary stalls`},
		{"telemetry all missing", "expect: promote\ntelemetry:\n  missing_per_second: 100%\n", "x.yaml:3: telemetry missing_per_second must be at least 0% and below 100%, not 100%"},
		{"telemetry mode", "expect: promote\ntelemetry:\n  missing_per_second: 10%\n  mode: late\n", `x.yaml:4: telemetry mode must be "drop" (missing seconds never arrive) or "lump" (they arrive with the next second), not "late"`},
		{"telemetry unknown", "expect: promote\ntelemetry: {missing: 10%}\n", `x.yaml:2: unknown key "missing" in telemetry`},
		{"warmup not duration", "expect: promote\njudge:\n  warmup: 30\n", "x.yaml:3: judge warmup"},
		{"warmup fraction", "expect: promote\njudge:\n  warmup: 1500ms\n", "x.yaml:3: judge warmup must be a whole number of seconds, not 1500ms"},
		{"warmup too long", "expect: promote\nduration: 10m\njudge:\n  warmup: 10m\n", "x.yaml:4: judge warmup (600s) must be shorter than the duration (600s)"},
		{"judge unknown", "expect: promote\njudge: {alpha: 0.01}\n", `x.yaml:2: unknown key "alpha" in judge`},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseScenario("x.yaml", []byte(c.src))
			if err == nil || s != nil {
				t.Fatalf("parsed: %+v", s)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, c.want)
			}
		})
	}
}

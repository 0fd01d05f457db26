package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/judgesim"
)

func TestLoadShippedScenarios(t *testing.T) {
	ss, err := LoadScenarios("../../bench/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 24 {
		t.Fatalf("%d scenarios, want the 24 the benchmark ships", len(ss))
	}
	byName := map[string]*judgesim.Scenario{}
	for _, s := range ss {
		byName[s.Name] = s
	}
	blip := byName["s02-shared-blip"]
	if blip == nil {
		t.Fatal("no s02-shared-blip")
	}
	for arm := range analysis.NumArms {
		if got := blip.Arms[arm].ErrorRate.At(330); got != 0.05 {
			t.Errorf("blip arm %d error rate at 5m30s = %v", arm, got)
		}
		if got := blip.Arms[arm].LatencyMultiplier.At(400); got != 1 {
			t.Errorf("blip arm %d latency after the blip = %v", arm, got)
		}
	}
	ramp := byName["s04-ramp"]
	if got := ramp.Arms[analysis.Canary].ErrorRate.At(600); got < 0.01249 || got > 0.01251 {
		t.Errorf("ramp at 10m = %v", got)
	}
	if got := ramp.Arms[analysis.Stable].ErrorRate.At(600); got != 0.005 {
		t.Errorf("stable in the ramp = %v", got)
	}
	low := byName["s09-low-traffic-regression"]
	if low.Rate.At(0) != 10 || low.CanaryWeight.At(0) != 0.1 || low.Expect != judgesim.ExpectRollback || low.Duration != 1800 {
		t.Errorf("low traffic regression parsed as %+v", low)
	}
	if b := byName["s10-bursty-healthy"].Bursts; b.ChancePerSecond != 0.01 || b.Size != 20 {
		t.Errorf("bursts %+v", b)
	}
	// Issue 12's scenarios.
	for _, name := range []string{"s11-stalls-healthy", "s12-stalls-heavy-healthy"} {
		s := byName[name]
		if s.Arms[analysis.Stable].Stalls != s.Arms[analysis.Canary].Stalls || s.Arms[analysis.Canary].Stalls.ChancePerSecond == 0 {
			t.Errorf("%s: arms must stall alike: %+v", name, s.Arms)
		}
	}
	if tl := byName["s14-tail-regression"].Arms[analysis.Canary].Tail; tl != (judgesim.LatencyTail{Above: 0.9, Multiplier: 1.5}) {
		t.Errorf("tail %+v", tl)
	}
	if w := byName["s15-warmup-canary"]; w.Warmup != 30 || w.Arms[analysis.Canary].ErrorRate.At(10) != 0.1 {
		t.Errorf("warm-up canary %+v", w)
	}
	if w := byName["s17-weight-steps-healthy"].CanaryWeight; w.At(0) != 0.05 || w.At(600) != 0.25 || w.At(1200) != 0.5 {
		t.Errorf("weight steps %+v", w)
	}
	if tm := byName["s20-missing-lump-healthy"].Telemetry; tm != (judgesim.Telemetry{MissingPerSecond: 0.2, Mode: judgesim.TelemetryLump}) {
		t.Errorf("telemetry %+v", tm)
	}
	if r := byName["s23-rate-ramp-healthy"].Rate; r.At(0) != 50 || r.At(1200) != 2000 || !r.Linear {
		t.Errorf("rate ramp %+v", r)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"missing expect", "rate: 10\n", "x.yaml:1: expect is missing"},
		{"bad expect", "expect: maybe\n", `x.yaml:1: expect must be "promote" or "rollback", not "maybe"`},
		{"unknown key", "expect: promote\ncanary:\n  eror_rate: 2%\n", `x.yaml:3: unknown key "eror_rate" in canary; did you mean "error_rate"?`},
		{"percent over 100", "expect: promote\ncanary:\n  error_rate: 150%\n", "x.yaml:3: canary error_rate must be between 0% and 100%, not 150%"},
		{"not a number", "expect: promote\nrate: lots\n", `x.yaml:2: rate must be a number, not "lots"`},
		{"percent where not allowed", "expect: promote\nrate: 5%\n", `x.yaml:2: rate must be a number, not "5%"`},
		{"zero rate", "expect: promote\nrate: 0\n", "x.yaml:2: rate must be above 0"},
		{"weight too big", "expect: promote\ncanary_weight: 60%\n", "x.yaml:2: canary_weight must be above 0% and below 50%"},
		{"bad duration", "expect: promote\nduration: 30 minutes\n", "x.yaml:2: duration"},
		{"unordered points", "expect: rollback\ncanary:\n  error_rate:\n    ramp:\n      - {at: 5m, value: 1%}\n      - {at: 1m, value: 2%}\n", "x.yaml:6: canary error_rate points must be in increasing time order"},
		{"both steps and ramp", "expect: rollback\ncanary:\n  error_rate:\n    ramp: [{at: 0s, value: 1%}]\n    steps: [{at: 0s, value: 1%}]\n", "x.yaml:5: canary error_rate needs exactly one of steps or ramp"},
		{"point without value", "expect: rollback\ncanary:\n  error_rate:\n    steps:\n      - {at: 0s}\n", "x.yaml:5: each canary error_rate point needs both at and value"},
		{"empty points", "expect: rollback\ncanary:\n  error_rate:\n    steps: []\n", "x.yaml:4: canary error_rate needs at least one point"},
		{"negative multiplier", "expect: rollback\ncanary:\n  latency_multiplier: -1\n", "x.yaml:3: canary latency_multiplier must be between"},
		{"bad burst", "expect: promote\nbursts:\n  chance_per_second: 2\n", "x.yaml:3: bursts chance_per_second must be between 0% and 100%"},
		{"yaml syntax", "expect: [promote\n", "x.yaml:1: not valid YAML"},
		{"empty curve", "expect: rollback\ncanary:\n  error_rate: {}\n", "x.yaml:3: canary error_rate needs steps or ramp"},
		{"empty", "", "x.yaml:1: the file is empty"},
		{"two documents", "expect: promote\n---\nexpect: rollback\n", "more than one YAML document; put one scenario in each file"},
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

func TestLoadScenariosReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "expect: promote\nrate: -1\n")
	write("b.yaml", "expect: rollback\ncanary: {error_rate: 2%}\n")
	write("c.yml", "expekt: promote\n")
	write("notes.txt", "not a scenario")
	_, err := LoadScenarios(dir)
	if err == nil {
		t.Fatal("bad files loaded")
	}
	for _, want := range []string{"a.yaml:2:", "c.yml:1:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not mention %s", err, want)
		}
	}
	write("a.yaml", "expect: promote\n")
	write("c.yml", "name: a\nexpect: promote\n")
	if _, err := LoadScenarios(dir); err == nil || !strings.Contains(err.Error(), `scenario name "a" is also used by`) {
		t.Errorf("duplicate names: %v", err)
	}
	os.Remove(filepath.Join(dir, "c.yml"))
	ss, err := LoadScenarios(dir)
	if err != nil || len(ss) != 2 || ss[0].Name != "a" || ss[1].Name != "b" {
		t.Fatalf("%v %v", ss, err)
	}
	if _, err := LoadScenarios(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no scenario files") {
		t.Errorf("empty dir: %v", err)
	}
}

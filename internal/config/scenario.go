package config

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/judgesim"
	"go.yaml.in/yaml/v3"
)

// ParseScenario parses a judge-benchmark scenario file (the format is in
// docs/judge-benchmark.md). Problems are file:line errors; the scenario is
// returned only when there are none.
func ParseScenario(file string, src []byte) (*judgesim.Scenario, error) {
	p := &parser{file: file, lines: map[string]int{}}
	root, err := decodeOne(file, src, "scenario")
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, &Error{Problems: []Problem{{File: file, Line: 1, Message: "the file is empty"}}}
	}
	s := &judgesim.Scenario{
		Name:          strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)),
		Duration:      judgesim.DefaultDuration,
		Rate:          judgesim.DefaultRate,
		CanaryWeight:  judgesim.DefaultCanaryWeight,
		LatencyMedian: judgesim.DefaultLatencyMedian,
		LatencySigma:  judgesim.DefaultLatencySigma,
	}
	var arms [analysis.NumArms]struct{ errRate, mult *judgesim.Curve }
	var common struct{ errRate, mult *judgesim.Curve }
	armFields := func(dst *struct{ errRate, mult *judgesim.Curve }, what string) fieldFunc {
		return func(v *yaml.Node, path string) {
			p.mapping(v, path, what, map[string]fieldFunc{
				"error_rate": func(v *yaml.Node, path string) {
					c := p.curve(v, path, what+" error_rate", true)
					dst.errRate = &c
				},
				"latency_multiplier": func(v *yaml.Node, path string) {
					c := p.curve(v, path, what+" latency_multiplier", false)
					dst.mult = &c
				},
			})
		}
	}
	p.mapping(root, "", "the scenario", map[string]fieldFunc{
		"name":        func(v *yaml.Node, path string) { s.Name = p.str(v, path, "name") },
		"description": func(v *yaml.Node, path string) { s.Description = p.str(v, path, "description") },
		"expect": func(v *yaml.Node, path string) {
			s.Expect = p.str(v, path, "expect")
			if s.Expect != "" && s.Expect != judgesim.ExpectPromote && s.Expect != judgesim.ExpectRollback {
				p.fail(v, "expect must be %q or %q, not %q", judgesim.ExpectPromote, judgesim.ExpectRollback, s.Expect)
			}
		},
		"duration": func(v *yaml.Node, path string) {
			d := p.duration(v, path, "duration")
			if v.Tag != "!!null" && (d.Std() < 1e9 || d.Std() > 7*24*3600e9) {
				p.fail(v, "duration must be between 1s and 168h")
			}
			s.Duration = int(d.Std().Seconds())
		},
		"rate": func(v *yaml.Node, path string) {
			s.Rate = p.number(v, "rate", false)
			if !(s.Rate > 0) || s.Rate > 1e7 {
				p.fail(v, "rate must be above 0 and at most 10000000 requests per second")
			}
		},
		"canary_weight": func(v *yaml.Node, path string) {
			s.CanaryWeight = p.number(v, "canary_weight", true)
			if !(s.CanaryWeight > 0 && s.CanaryWeight < 0.5) {
				p.fail(v, "canary_weight must be above 0%% and below 50%% (a baseline of the same size is simulated too)")
			}
		},
		"latency": func(v *yaml.Node, path string) {
			p.mapping(v, path, "latency", map[string]fieldFunc{
				"median": func(v *yaml.Node, path string) {
					d := p.duration(v, path, "latency median")
					s.LatencyMedian = float64(d.Std().Microseconds()) / 1000
					if v.Tag != "!!null" && !(s.LatencyMedian > 0) {
						p.fail(v, "latency median must be above 0")
					}
				},
				"sigma": func(v *yaml.Node, path string) {
					s.LatencySigma = p.number(v, "latency sigma", false)
					if !(s.LatencySigma > 0 && s.LatencySigma <= 5) {
						p.fail(v, "latency sigma must be above 0 and at most 5")
					}
				},
			})
		},
		"all":      armFields(&common, "all"),
		"stable":   armFields(&arms[analysis.Stable], "stable"),
		"baseline": armFields(&arms[analysis.Baseline], "baseline"),
		"canary":   armFields(&arms[analysis.Canary], "canary"),
		"bursts": func(v *yaml.Node, path string) {
			p.mapping(v, path, "bursts", map[string]fieldFunc{
				"chance_per_second": func(v *yaml.Node, path string) {
					s.Bursts.ChancePerSecond = p.number(v, "bursts chance_per_second", true)
					if s.Bursts.ChancePerSecond < 0 || s.Bursts.ChancePerSecond > 1 {
						p.fail(v, "bursts chance_per_second must be between 0%% and 100%%")
					}
				},
				"size": func(v *yaml.Node, path string) {
					s.Bursts.Size = p.integer(v, path, "bursts size")
					if s.Bursts.Size < 0 {
						p.fail(v, "bursts size must not be negative")
					}
				},
			})
		},
	})
	if s.Expect == "" && len(p.errs) == 0 {
		p.failAt(root.Line, "expect is missing: say whether a good judge would promote or roll back this canary (expect: promote or expect: rollback)")
	}
	for arm := range analysis.NumArms {
		errRate, mult := judgesim.Const(judgesim.DefaultErrorRate), judgesim.Const(1)
		for _, src := range []struct{ errRate, mult *judgesim.Curve }{common, arms[arm]} {
			if src.errRate != nil {
				errRate = *src.errRate
			}
			if src.mult != nil {
				mult = *src.mult
			}
		}
		s.Arms[arm] = judgesim.ArmModel{ErrorRate: errRate, LatencyMultiplier: mult}
	}
	if len(p.errs) == 0 {
		if err := s.Validate(); err != nil {
			p.failAt(1, "%v", err)
		}
	}
	if len(p.errs) > 0 {
		e := &Error{Problems: p.errs}
		e.sort()
		return nil, e
	}
	return s, nil
}

// number reads a number; with percent, "2.5%" is accepted too and means
// 0.025.
func (p *parser) number(n *yaml.Node, what string, percent bool) float64 {
	want := "a number"
	if percent {
		want = "a number or a percentage such as 2.5%"
	}
	if !p.scalar(n, what, want) {
		return math.NaN()
	}
	text, scale := n.Value, 1.0
	if percent && strings.HasSuffix(text, "%") && n.Tag == "!!str" {
		text, scale = strings.TrimSpace(strings.TrimSuffix(text, "%")), 0.01
	} else if n.Tag != "!!int" && n.Tag != "!!float" {
		p.fail(n, "%s must be %s, not %s", what, want, kindName(n))
		return math.NaN()
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		p.fail(n, "%s must be %s, not %s", what, want, kindName(n))
		return math.NaN()
	}
	return v * scale
}

// curve reads a value that may change over time: a number, or
// {steps: [...]} or {ramp: [...]} of {at: DURATION, value: NUMBER} points.
func (p *parser) curve(n *yaml.Node, path, what string, percent bool) judgesim.Curve {
	lo, hi := 1e-3, 1e3
	if percent {
		lo, hi = 0, 1
	}
	check := func(n *yaml.Node, v float64) {
		if !math.IsNaN(v) && (v < lo || v > hi) {
			if percent {
				p.fail(n, "%s must be between 0%% and 100%%, not %s", what, n.Value)
			} else {
				p.fail(n, "%s must be between %g and %g, not %s", what, lo, hi, n.Value)
			}
		}
	}
	if n.Kind == yaml.ScalarNode {
		v := p.number(n, what, percent)
		check(n, v)
		return judgesim.Const(v)
	}
	var c judgesim.Curve
	set := false
	points := func(linear bool) fieldFunc {
		return func(v *yaml.Node, path string) {
			if set {
				p.fail(v, "%s needs exactly one of steps or ramp", what)
				return
			}
			set, c.Linear = true, linear
			p.sequence(v, path, what+" points", func(i int, item *yaml.Node, ip string) {
				var pt judgesim.Point
				var have [2]bool
				p.mapping(item, ip, what+" point", map[string]fieldFunc{
					"at": func(v *yaml.Node, path string) {
						pt.At = p.duration(v, path, "at").Std().Seconds()
						have[0] = true
					},
					"value": func(v *yaml.Node, path string) {
						pt.Value = p.number(v, what, percent)
						check(v, pt.Value)
						have[1] = true
					},
				})
				if item.Kind == yaml.MappingNode && !(have[0] && have[1]) {
					p.fail(item, "each %s point needs both at and value", what)
				}
				if len(c.Points) > 0 && !(pt.At > c.Points[len(c.Points)-1].At) {
					p.fail(item, "%s points must be in increasing time order", what)
				}
				c.Points = append(c.Points, pt)
			})
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				p.fail(v, "%s needs at least one point", what)
			}
		}
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%s must be a number or a mapping with steps or ramp, not %s", what, kindName(n))
		return judgesim.Const(math.NaN())
	}
	p.mapping(n, path, what, map[string]fieldFunc{"steps": points(false), "ramp": points(true)})
	if !set {
		p.fail(n, "%s needs steps or ramp", what)
	}
	return c
}

// LoadScenarios reads every *.yaml and *.yml file of dir, sorted by name.
// All files are read; the error lists every problem in every file.
func LoadScenarios(dir string) ([]*judgesim.Scenario, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s holds no scenario files (*.yaml)", dir)
	}
	var out []*judgesim.Scenario
	all := &Error{}
	seen := map[string]string{}
	for _, name := range names {
		file := filepath.Join(dir, name)
		src, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		s, err := ParseScenario(file, src)
		if err != nil {
			if e, ok := err.(*Error); ok {
				all.Problems = append(all.Problems, e.Problems...)
				continue
			}
			return nil, err
		}
		if prev, dup := seen[s.Name]; dup {
			all.Problems = append(all.Problems, Problem{File: file, Line: 1, Message: fmt.Sprintf("scenario name %q is also used by %s", s.Name, prev)})
			continue
		}
		seen[s.Name] = file
		out = append(out, s)
	}
	if len(all.Problems) > 0 {
		return nil, all
	}
	return out, nil
}

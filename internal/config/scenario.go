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
	s, _, err := parseScenario(file, src)
	return s, err
}

// parseScenario is ParseScenario that also returns the line of the name:
// key (0 when the name comes from the file name).
func parseScenario(file string, src []byte) (*judgesim.Scenario, int, error) {
	p := &parser{file: file, lines: map[string]int{}}
	nameLine := 0
	root, err := decodeOne(file, src, "scenario")
	if err != nil {
		return nil, 0, err
	}
	if root == nil {
		return nil, 0, &Error{Problems: []Problem{{File: file, Line: 1, Message: "the file is empty"}}}
	}
	s := &judgesim.Scenario{
		Name:          strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)),
		Duration:      judgesim.DefaultDuration,
		Rate:          judgesim.Const(judgesim.DefaultRate),
		CanaryWeight:  judgesim.Const(judgesim.DefaultCanaryWeight),
		LatencyMedian: judgesim.DefaultLatencyMedian,
		LatencySigma:  judgesim.DefaultLatencySigma,
	}
	var arms [analysis.NumArms]armKeys
	var common armKeys
	armFields := func(dst *armKeys, what string) fieldFunc {
		return func(v *yaml.Node, path string) {
			p.mapping(v, path, what, map[string]fieldFunc{
				"error_rate": func(v *yaml.Node, path string) {
					c := p.curve(v, path, what+" error_rate", shareBounds)
					dst.errRate = &c
				},
				"latency_multiplier": func(v *yaml.Node, path string) {
					c := p.curve(v, path, what+" latency_multiplier", multiplierBounds)
					dst.mult = &c
				},
				"latency_tail": func(v *yaml.Node, path string) {
					t := p.latencyTail(v, path, what+" latency_tail")
					dst.tail = &t
				},
				"stalls": func(v *yaml.Node, path string) {
					st := p.stalls(v, path, what+" stalls")
					dst.stalls = &st
				},
			})
		}
	}
	warmupLine := 0
	p.mapping(root, "", "the scenario", map[string]fieldFunc{
		"name": func(v *yaml.Node, path string) {
			s.Name, nameLine = p.str(v, path, "name"), v.Line
		},
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
		"rate": func(v *yaml.Node, path string) { s.Rate = p.curve(v, path, "rate", rateBounds) },
		"canary_weight": func(v *yaml.Node, path string) {
			if v.Kind == yaml.ScalarNode {
				s.CanaryWeight = p.curve(v, path, "canary_weight", weightBounds)
			} else {
				s.CanaryWeight = p.curve(v, path, "canary_weight", weightScheduleBounds)
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
		"telemetry": func(v *yaml.Node, path string) {
			mode := (*yaml.Node)(nil)
			p.mapping(v, path, "telemetry", map[string]fieldFunc{
				"missing_per_second": func(v *yaml.Node, path string) {
					s.Telemetry.MissingPerSecond = p.number(v, "telemetry missing_per_second", true)
					if m := s.Telemetry.MissingPerSecond; m < 0 || m >= 1 {
						p.fail(v, "telemetry missing_per_second must be at least 0%% and below 100%%, not %s", v.Value)
					}
				},
				"mode": func(v *yaml.Node, path string) {
					mode = v
					s.Telemetry.Mode = p.str(v, path, "telemetry mode")
					if m := s.Telemetry.Mode; m != "" && m != judgesim.TelemetryDrop && m != judgesim.TelemetryLump {
						p.fail(v, "telemetry mode must be %q (missing seconds never arrive) or %q (they arrive with the next second), not %q", judgesim.TelemetryDrop, judgesim.TelemetryLump, m)
					}
				},
			})
			if mode == nil && v.Kind == yaml.MappingNode {
				s.Telemetry.Mode = judgesim.TelemetryDrop
			}
		},
		"judge": func(v *yaml.Node, path string) {
			p.mapping(v, path, "judge", map[string]fieldFunc{
				"warmup": func(v *yaml.Node, path string) {
					d := p.duration(v, path, "judge warmup").Std()
					switch {
					case d < 0 || d%1e9 != 0:
						p.fail(v, "judge warmup must be a whole number of seconds, not %s", v.Value)
					case d > 24*3600e9:
						p.fail(v, "judge warmup must be at most 24h, not %s", v.Value)
					default:
						s.Warmup = int(d.Seconds())
						warmupLine = v.Line
					}
				},
			})
		},
	})
	if s.Expect == "" && len(p.errs) == 0 {
		p.failAt(root.Line, "expect is missing: say whether a good judge would promote or roll back this canary (expect: promote or expect: rollback)")
	}
	if warmupLine > 0 && s.Warmup >= s.Duration {
		p.failAt(warmupLine, "judge warmup (%ds) must be shorter than the duration (%ds): nothing would be judged", s.Warmup, s.Duration)
	}
	for arm := range analysis.NumArms {
		m := judgesim.ArmModel{ErrorRate: judgesim.Const(judgesim.DefaultErrorRate), LatencyMultiplier: judgesim.Const(1)}
		for _, src := range []armKeys{common, arms[arm]} {
			if src.errRate != nil {
				m.ErrorRate = *src.errRate
			}
			if src.mult != nil {
				m.LatencyMultiplier = *src.mult
			}
			if src.tail != nil {
				m.Tail = *src.tail
			}
			if src.stalls != nil {
				m.Stalls = *src.stalls
			}
		}
		s.Arms[arm] = m
	}
	if len(p.errs) == 0 {
		if err := s.Validate(); err != nil {
			p.failAt(1, "%v", err)
		}
	}
	if len(p.errs) > 0 {
		e := &Error{Problems: p.errs}
		e.sort()
		return nil, 0, e
	}
	return s, nameLine, nil
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

// armKeys are the keys one arm section (or all) set; nil is not set.
type armKeys struct {
	errRate, mult *judgesim.Curve
	tail          *judgesim.LatencyTail
	stalls        *judgesim.Stalls
}

// bounds is the range a curve's values must lie in, and how to say it.
type bounds struct {
	percent bool // "2.5%" accepted
	ok      func(float64) bool
	want    string // completes "X must be …"
}

var (
	shareBounds      = bounds{percent: true, ok: func(v float64) bool { return v >= 0 && v <= 1 }, want: "between 0% and 100%"}
	multiplierBounds = bounds{ok: func(v float64) bool { return v >= 1e-3 && v <= 1e3 }, want: "between 0.001 and 1000"}
	rateBounds       = bounds{ok: func(v float64) bool { return v > 0 && v <= 1e7 }, want: "above 0 and at most 10000000 requests per second"}
	weightBounds     = bounds{percent: true, ok: func(v float64) bool { return v > 0 && v < 0.5 },
		want: "above 0% and below 50% (a baseline of the same size is simulated too)"}
	weightScheduleBounds = bounds{percent: true, ok: func(v float64) bool { return v > 0 && v <= 0.5 },
		want: "above 0% and at most 50% in a schedule (a baseline of the same size is simulated too; at 50% stable gets no traffic)"}
)

// bounded reads one number and checks it against b.
func (p *parser) bounded(n *yaml.Node, what string, b bounds) float64 {
	v := p.number(n, what, b.percent)
	if !math.IsNaN(v) && !b.ok(v) {
		p.fail(n, "%s must be %s, not %s", what, b.want, n.Value)
	}
	return v
}

// curve reads a value that may change over time: a number, or
// {steps: [...]} or {ramp: [...]} of {at: DURATION, value: NUMBER} points.
func (p *parser) curve(n *yaml.Node, path, what string, b bounds) judgesim.Curve {
	if n.Kind == yaml.ScalarNode {
		return judgesim.Const(p.bounded(n, what, b))
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
			// The time of the last point whose at: was good: a point
			// whose at: is bad is reported for that alone, and the next
			// point is ordered against the last good one.
			lastAt, haveLast := 0.0, false
			p.sequence(v, path, what+" points", func(i int, item *yaml.Node, ip string) {
				var pt judgesim.Point
				var have [2]bool
				atOK := false
				p.mapping(item, ip, what+" point", map[string]fieldFunc{
					"at": func(v *yaml.Node, path string) {
						before := len(p.errs)
						pt.At = p.duration(v, path, "at").Std().Seconds()
						have[0], atOK = true, len(p.errs) == before
					},
					"value": func(v *yaml.Node, path string) {
						pt.Value = p.bounded(v, what, b)
						have[1] = true
					},
				})
				if item.Kind == yaml.MappingNode && !(have[0] && have[1]) {
					p.fail(item, "each %s point needs both at and value", what)
				}
				if atOK {
					if haveLast && !(pt.At > lastAt) {
						p.fail(item, "%s points must be in increasing time order", what)
					}
					lastAt, haveLast = pt.At, true
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

// latencyTail reads {above: QUANTILE, multiplier: FACTOR}; both are needed.
func (p *parser) latencyTail(n *yaml.Node, path, what string) judgesim.LatencyTail {
	var t judgesim.LatencyTail
	var have [2]bool
	p.mapping(n, path, what, map[string]fieldFunc{
		"above": func(v *yaml.Node, path string) {
			t.Above = p.bounded(v, what+" above", bounds{percent: true, ok: func(v float64) bool { return v > 0 && v < 1 },
				want: "a quantile above 0 and below 1 (0.9 = slower than the p90)"})
			have[0] = true
		},
		"multiplier": func(v *yaml.Node, path string) {
			t.Multiplier = p.bounded(v, what+" multiplier", multiplierBounds)
			have[1] = true
		},
	})
	if (n.Kind == yaml.MappingNode || n.Tag == "!!null") && !(have[0] && have[1]) {
		p.fail(n, "%s needs both above (a quantile such as 0.9) and multiplier (such as 1.5)", what)
	}
	return t
}

// stalls reads {chance_per_second, fail_share, slow_share}.
func (p *parser) stalls(n *yaml.Node, path, what string) judgesim.Stalls {
	var st judgesim.Stalls
	share := func(dst *float64, key string) fieldFunc {
		return func(v *yaml.Node, path string) { *dst = p.bounded(v, what+" "+key, shareBounds) }
	}
	p.mapping(n, path, what, map[string]fieldFunc{
		"chance_per_second": share(&st.ChancePerSecond, "chance_per_second"),
		"fail_share":        share(&st.FailShare, "fail_share"),
		"slow_share":        share(&st.SlowShare, "slow_share"),
	})
	if n.Kind == yaml.MappingNode && st.ChancePerSecond > 0 && st.FailShare == 0 && st.SlowShare == 0 {
		p.fail(n, "%s need fail_share or slow_share above 0: a stall that fails and slows nothing does nothing", what)
	}
	return st
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
	// seen says where each name was given: a file's name: line, or its
	// file name.
	seen := map[string]string{}
	for _, name := range names {
		file := filepath.Join(dir, name)
		src, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		s, nameLine, err := parseScenario(file, src)
		if err != nil {
			if e, ok := err.(*Error); ok {
				all.Problems = append(all.Problems, e.Problems...)
				continue
			}
			return nil, err
		}
		where, line, from := fmt.Sprintf("%s:%d", file, nameLine), nameLine, ""
		if nameLine == 0 {
			where, line, from = file+" (its file name)", 1, " (from the file name)"
		}
		if prev, dup := seen[s.Name]; dup {
			all.Problems = append(all.Problems, Problem{File: file, Line: line, Message: fmt.Sprintf("scenario name %q%s is also used by %s", s.Name, from, prev)})
			continue
		}
		seen[s.Name] = where
		out = append(out, s)
	}
	if len(all.Problems) > 0 {
		return nil, all
	}
	return out, nil
}

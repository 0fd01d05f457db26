package config

import (
	"math"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/analysis"
	"go.yaml.in/yaml/v3"
)

// The service: and strategy: keys of a job. Rules that need the whole
// spec (a step has one kind, listen addresses are unique, an analysis step
// ends) are the domain validator's; the parser checks shapes, types, and
// what only it can see: a duration written as 0 where 0 would silently
// mean a default, and conditions, whose grammar lives in internal/analysis.

func (p *parser) serviceProcess(n *yaml.Node, path string) *shipgate.ServiceProcess {
	s := &shipgate.ServiceProcess{}
	p.mapping(n, path, "service", map[string]fieldFunc{
		"exec":   func(v *yaml.Node, path string) { s.Exec = p.strList(v, path, "exec") },
		"env":    func(v *yaml.Node, path string) { s.Env = p.strMap(v, path, "env") },
		"listen": func(v *yaml.Node, path string) { s.Listen = p.str(v, path, "listen") },
		"health": func(v *yaml.Node, path string) {
			s.Health = &shipgate.ServiceHealth{}
			p.mapping(v, path, "health", map[string]fieldFunc{
				"path":     func(v *yaml.Node, path string) { s.Health.Path = p.str(v, path, "path") },
				"interval": func(v *yaml.Node, path string) { s.Health.Interval = p.positive(v, path, "interval") },
				"timeout":  func(v *yaml.Node, path string) { s.Health.Timeout = p.positive(v, path, "timeout") },
			})
		},
		"stop_grace":    func(v *yaml.Node, path string) { s.StopGrace = p.positive(v, path, "stop_grace") },
		"start_timeout": func(v *yaml.Node, path string) { s.StartTimeout = p.positive(v, path, "start_timeout") },
	})
	return s
}

func (p *parser) strategy(n *yaml.Node, path string) *shipgate.Strategy {
	s := &shipgate.Strategy{}
	p.mapping(n, path, "strategy", map[string]fieldFunc{
		"canary": func(v *yaml.Node, path string) {
			c := &shipgate.CanaryStrategy{}
			s.Canary = c
			p.mapping(v, path, "canary", map[string]fieldFunc{
				"steps": func(v *yaml.Node, path string) {
					p.sequence(v, path, "steps", func(i int, n *yaml.Node, path string) {
						c.Steps = append(c.Steps, p.canaryStep(n, path))
					})
				},
				"background_analysis": func(v *yaml.Node, path string) { c.BackgroundAnalysis = p.analysis(v, path) },
			})
		},
		"blue_green": func(v *yaml.Node, path string) {
			b := &shipgate.BlueGreenStrategy{}
			s.BlueGreen = b
			p.mapping(v, path, "blue_green", map[string]fieldFunc{
				"preview":  func(v *yaml.Node, path string) { b.Preview = p.str(v, path, "preview") },
				"analysis": func(v *yaml.Node, path string) { b.Analysis = p.analysis(v, path) },
				"scale_down_delay": func(v *yaml.Node, path string) {
					b.ScaleDownDelay = p.duration(v, path, "scale_down_delay")
				},
			})
		},
	})
	return s
}

func (p *parser) canaryStep(n *yaml.Node, path string) shipgate.CanaryStep {
	var s shipgate.CanaryStep
	p.mapping(n, path, "canary step", map[string]fieldFunc{
		"set_weight": func(v *yaml.Node, path string) {
			w := p.integer(v, path, "set_weight")
			s.SetWeight = &w
		},
		"pause":    func(v *yaml.Node, path string) { s.Pause = p.pause(v, path) },
		"analysis": func(v *yaml.Node, path string) { s.Analysis = p.analysis(v, path) },
	})
	return s
}

// pause reads "pause: 30s", "pause: {duration: 30s}", or "pause: {}" (and
// a bare "pause:"), which waits for a person. A zero duration is refused:
// it would wait for a person while reading like no wait at all.
func (p *parser) pause(n *yaml.Node, path string) *shipgate.Pause {
	pause := &shipgate.Pause{}
	duration := func(v *yaml.Node) shipgate.Duration {
		before := len(p.errs)
		d := p.duration(v, path, "pause")
		if d == 0 && len(p.errs) == before {
			p.fail(v, "pause: 0s would wait for a person; write pause: {} for that, or leave the step out")
		}
		return d
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return pause
		}
		pause.Duration = duration(n)
	case yaml.MappingNode:
		p.mapping(n, path, "pause", map[string]fieldFunc{
			"duration": func(v *yaml.Node, path string) { pause.Duration = duration(v) },
		})
	default:
		p.fail(n, "pause must be a duration such as 30s, or {} to wait for `shipgate promote`, not %s", kindName(n))
	}
	return pause
}

func (p *parser) analysis(n *yaml.Node, path string) *shipgate.Analysis {
	a := &shipgate.Analysis{}
	p.mapping(n, path, "analysis", map[string]fieldFunc{
		"sequential": func(v *yaml.Node, path string) {
			s := &shipgate.SequentialAnalysis{}
			a.Sequential = s
			p.mapping(v, path, "sequential", map[string]fieldFunc{
				"alpha": func(v *yaml.Node, path string) {
					if x := p.number(v, "alpha", false); !math.IsNaN(x) {
						if x == 0 {
							p.fail(v, "alpha must be more than 0 and at most 0.5; leave it out for the default %g", shipgate.DefaultAlpha)
						}
						s.Alpha = x
					}
				},
				"duration": func(v *yaml.Node, path string) { s.Duration = p.positive(v, path, "duration") },
				"warmup":   func(v *yaml.Node, path string) { s.Warmup = p.duration(v, path, "warmup") },
			})
		},
		"metrics": func(v *yaml.Node, path string) {
			p.sequence(v, path, "metrics", func(i int, n *yaml.Node, path string) {
				a.Metrics = append(a.Metrics, p.metric(n, path))
			})
		},
	})
	return a
}

func (p *parser) metric(n *yaml.Node, path string) shipgate.AnalysisMetric {
	var m shipgate.AnalysisMetric
	condition := func(v *yaml.Node, path, what string) string {
		before := len(p.errs)
		s := p.str(v, path, what)
		if len(p.errs) == before {
			if _, err := analysis.ParseCondition(s); err != nil {
				p.fail(v, "%s: %v", what, err)
			}
		}
		return s
	}
	p.mapping(n, path, "metric", map[string]fieldFunc{
		"name":          func(v *yaml.Node, path string) { m.Name = p.str(v, path, "name") },
		"provider":      func(v *yaml.Node, path string) { m.Provider = p.provider(v, path) },
		"interval":      func(v *yaml.Node, path string) { m.Interval = p.positive(v, path, "interval") },
		"count":         func(v *yaml.Node, path string) { m.Count = p.integer(v, path, "count") },
		"initial_delay": func(v *yaml.Node, path string) { m.InitialDelay = p.duration(v, path, "initial_delay") },
		"success_condition": func(v *yaml.Node, path string) {
			m.SuccessCondition = condition(v, path, "success_condition")
		},
		"failure_condition": func(v *yaml.Node, path string) {
			m.FailureCondition = condition(v, path, "failure_condition")
		},
		"failure_limit": func(v *yaml.Node, path string) { m.FailureLimit = p.integer(v, path, "failure_limit") },
		"consecutive_error_limit": func(v *yaml.Node, path string) {
			l := p.integer(v, path, "consecutive_error_limit")
			m.ConsecutiveErrorLimit = &l
		},
		"inconclusive_limit": func(v *yaml.Node, path string) { m.InconclusiveLimit = p.integer(v, path, "inconclusive_limit") },
	})
	p.require(n, m.Name != "", "a metric needs a name")
	return m
}

func (p *parser) provider(n *yaml.Node, path string) shipgate.MetricProvider {
	var mp shipgate.MetricProvider
	p.mapping(n, path, "provider", map[string]fieldFunc{
		"builtin": func(v *yaml.Node, path string) {
			b := &shipgate.BuiltinMetric{}
			mp.Builtin = b
			p.mapping(v, path, "builtin metric", map[string]fieldFunc{
				"metric":  func(v *yaml.Node, path string) { b.Metric = p.str(v, path, "metric") },
				"version": func(v *yaml.Node, path string) { b.Version = p.str(v, path, "version") },
				"window":  func(v *yaml.Node, path string) { b.Window = p.positive(v, path, "window") },
			})
		},
		"prometheus": func(v *yaml.Node, path string) {
			q := &shipgate.PrometheusMetric{}
			mp.Prometheus = q
			p.mapping(v, path, "prometheus metric", map[string]fieldFunc{
				"address": func(v *yaml.Node, path string) { q.Address = p.str(v, path, "address") },
				"query":   func(v *yaml.Node, path string) { q.Query = p.str(v, path, "query") },
				"range":   func(v *yaml.Node, path string) { q.Range = p.duration(v, path, "range") },
				"step":    func(v *yaml.Node, path string) { q.Step = p.positive(v, path, "step") },
				"timeout": func(v *yaml.Node, path string) { q.Timeout = p.positive(v, path, "timeout") },
			})
		},
		"http": func(v *yaml.Node, path string) {
			h := &shipgate.HTTPMetric{}
			mp.HTTP = h
			p.mapping(v, path, "http metric", map[string]fieldFunc{
				"url":       func(v *yaml.Node, path string) { h.URL = p.str(v, path, "url") },
				"json_path": func(v *yaml.Node, path string) { h.JSONPath = p.str(v, path, "json_path") },
				"headers":   func(v *yaml.Node, path string) { h.Headers = p.strMap(v, path, "headers") },
				"timeout":   func(v *yaml.Node, path string) { h.Timeout = p.positive(v, path, "timeout") },
			})
		},
	})
	return mp
}

// positive reads a duration where 0 would mean "the default": writing 0
// explicitly is refused rather than silently meaning something else.
func (p *parser) positive(n *yaml.Node, path, what string) shipgate.Duration {
	before := len(p.errs)
	d := p.duration(n, path, what)
	if d == 0 && len(p.errs) == before {
		p.fail(n, "%s must be more than 0; leave it out for the default", what)
	}
	return d
}

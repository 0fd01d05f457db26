package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// APIVersion and Kind are the only header values this version understands.
const (
	APIVersion  = "shipgate/v1"
	KindService = "Service"
)

// ParseService parses and validates a service file. file names the source
// in error messages. On any problem it returns *Error and no spec.
func ParseService(file string, src []byte) (*shipgate.ServiceSpec, error) {
	spec, _, err := ParseServiceLines(file, src)
	return spec, err
}

// ParseServiceLines is ParseService that also returns Locate, which turns
// a problem found later (say, by the store, against other releases) into a
// file:line error like the parser's own.
func ParseServiceLines(file string, src []byte) (*shipgate.ServiceSpec, Locate, error) {
	spec, p, err := parseService(file, src)
	return spec, Locate{p}, err
}

// Locate maps validation problems of a parsed file to its lines.
type Locate struct{ p *parser }

// Error converts a *shipgate.ValidationError into an *Error with lines;
// other errors pass unchanged.
func (l Locate) Error(err error) error {
	var verr *shipgate.ValidationError
	if l.p == nil || !errors.As(err, &verr) {
		return err
	}
	e := &Error{}
	for _, fe := range verr.Problems {
		e.Problems = append(e.Problems, Problem{File: l.p.file, Line: l.p.lineOf(fe.Path), Message: fe.Message})
	}
	e.sort()
	return e
}

func parseService(file string, src []byte) (*shipgate.ServiceSpec, *parser, error) {
	p := &parser{file: file, lines: map[string]int{}}
	root, err := decodeOne(file, src, "service")
	if err != nil {
		return nil, p, err
	}
	if root == nil {
		return nil, p, &Error{Problems: []Problem{{File: file, Line: 1, Message: "the file is empty"}}}
	}
	spec := p.service(root)
	if len(p.errs) == 0 {
		var verr *shipgate.ValidationError
		if err := spec.Validate(); errors.As(err, &verr) {
			for _, fe := range verr.Problems {
				p.errs = append(p.errs, Problem{File: file, Line: p.lineOf(fe.Path), Message: fe.Message})
			}
		} else if err != nil {
			return nil, p, err
		}
	}
	if len(p.errs) > 0 {
		e := &Error{Problems: p.errs}
		e.sort()
		return nil, p, e
	}
	return spec, p, nil
}

// decodeOne decodes a file that must hold exactly one YAML document
// (describing one thing, what) and returns its root node, refusing
// aliases and oversized trees. An empty file gives a nil node.
func decodeOne(file string, src []byte, what string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, &Error{Problems: []Problem{yamlProblem(file, src, err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{Problems: []Problem{{File: file, Line: extra.Line, Message: "the file holds more than one YAML document; put one " + what + " in each file"}}}
	} else if !errors.Is(err, io.EOF) {
		return nil, &Error{Problems: []Problem{yamlProblem(file, src, err)}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if problem, ok := checkNodes(file, root); !ok {
		return nil, &Error{Problems: []Problem{problem}}
	}
	return root, nil
}

// maxNodes bounds the size of a service file's tree.
const maxNodes = 100_000

// checkNodes refuses aliases, which a service file never needs and which
// can make a small file expand into an enormous one, and bounds the tree.
func checkNodes(file string, root *yaml.Node) (Problem, bool) {
	n := 0
	var bad *yaml.Node
	var walk func(*yaml.Node)
	walk = func(x *yaml.Node) {
		if bad != nil {
			return
		}
		n++
		if x.Kind == yaml.AliasNode || n > maxNodes {
			bad = x
			return
		}
		for _, c := range x.Content {
			walk(c)
		}
	}
	walk(root)
	switch {
	case bad == nil:
		return Problem{}, true
	case n > maxNodes:
		return Problem{File: file, Line: bad.Line, Message: fmt.Sprintf("the file has more than %d YAML nodes", maxNodes)}, false
	}
	return Problem{File: file, Line: bad.Line, Message: "YAML aliases (*" + bad.Value + ") are not supported; write the value out"}, false
}

func (p *parser) service(root *yaml.Node) *shipgate.ServiceSpec {
	spec := &shipgate.ServiceSpec{}
	var apiVersion, kind string
	var sawMeta, sawSpec bool
	p.mapping(root, "", "the file", map[string]fieldFunc{
		"apiVersion": func(v *yaml.Node, path string) { apiVersion = p.str(v, path, "apiVersion") },
		"kind":       func(v *yaml.Node, path string) { kind = p.str(v, path, "kind") },
		"metadata": func(v *yaml.Node, path string) {
			sawMeta = true
			p.mapping(v, path, "metadata", map[string]fieldFunc{
				"name": func(v *yaml.Node, path string) { spec.Name = p.str(v, path, "metadata.name") },
			})
		},
		"spec": func(v *yaml.Node, path string) {
			sawSpec = true
			p.mapping(v, path, "spec", map[string]fieldFunc{
				"inputs":     func(v *yaml.Node, path string) { spec.Inputs = p.inputs(v, path) },
				"flags":      func(v *yaml.Node, path string) { spec.Flags = p.flags(v, path) },
				"repository": func(v *yaml.Node, path string) { spec.Repository = p.str(v, path, "repository") },
				"owner":      func(v *yaml.Node, path string) { spec.Owner = p.str(v, path, "owner") },
				"runbook":    func(v *yaml.Node, path string) { spec.Runbook = p.str(v, path, "runbook") },
				"environments": func(v *yaml.Node, path string) {
					p.sequence(v, path, "environments", func(i int, n *yaml.Node, path string) {
						spec.Environments = append(spec.Environments, p.environment(n, path))
					})
				},
				"pipeline": func(v *yaml.Node, path string) {
					p.mapping(v, path, "pipeline", map[string]fieldFunc{
						"jobs": func(v *yaml.Node, path string) {
							p.sequence(v, path, "jobs", func(i int, n *yaml.Node, path string) {
								spec.Pipeline.Jobs = append(spec.Pipeline.Jobs, p.job(n, path))
							})
						},
					})
				},
			})
		},
	})
	if root.Kind != yaml.MappingNode {
		return spec
	}
	switch {
	case apiVersion == "":
		p.fail(root, "apiVersion is missing; the first line should be \"apiVersion: %s\"", APIVersion)
	case apiVersion != APIVersion:
		p.failAt(p.lines["apiVersion"], "apiVersion %q is not supported; use %q", apiVersion, APIVersion)
	}
	switch {
	case kind == "":
		p.fail(root, "kind is missing; add \"kind: %s\"", KindService)
	case kind != KindService:
		p.failAt(p.lines["kind"], "kind %q is not supported; use %q", kind, KindService)
	}
	if !sawMeta {
		p.fail(root, "metadata is missing; it names the service (metadata.name)")
	}
	if !sawSpec {
		p.fail(root, "spec is missing; it holds the environments and the pipeline")
	}
	return spec
}

func (p *parser) environment(n *yaml.Node, path string) shipgate.Environment {
	var e shipgate.Environment
	p.mapping(n, path, "environment", map[string]fieldFunc{
		"name":      func(v *yaml.Node, path string) { e.Name = p.str(v, path, "name") },
		"requires":  func(v *yaml.Node, path string) { e.Requires = p.strList(v, path, "requires") },
		"policies":  func(v *yaml.Node, path string) { e.Policies = p.strList(v, path, "policies") },
		"inputs":    func(v *yaml.Node, path string) { e.Inputs = p.inputs(v, path) },
		"approvals": func(v *yaml.Node, path string) { p.approvals(v, path, "approvals", &e.Approvals) },
		"flag_approvals": func(v *yaml.Node, path string) {
			e.FlagApprovals = &shipgate.ApprovalPolicy{}
			p.approvals(v, path, "flag_approvals", e.FlagApprovals)
		},
		"windows": func(v *yaml.Node, path string) {
			p.sequence(v, path, "windows", func(i int, n *yaml.Node, path string) {
				var w shipgate.Window
				p.mapping(n, path, "window", map[string]fieldFunc{
					"days":     func(v *yaml.Node, path string) { w.Days = p.strList(v, path, "days") },
					"start":    func(v *yaml.Node, path string) { w.Start = p.str(v, path, "start") },
					"end":      func(v *yaml.Node, path string) { w.End = p.str(v, path, "end") },
					"timezone": func(v *yaml.Node, path string) { w.Timezone = p.str(v, path, "timezone") },
				})
				e.Windows = append(e.Windows, w)
			})
		},
		"rollback": func(v *yaml.Node, path string) {
			r := &e.Rollback
			p.mapping(v, path, "rollback", map[string]fieldFunc{
				"enabled":       func(v *yaml.Node, path string) { r.Enabled = p.boolean(v, path, "enabled") },
				"check_target":  func(v *yaml.Node, path string) { r.CheckTarget = p.str(v, path, "check_target") },
				"delay_seconds": func(v *yaml.Node, path string) { r.DelaySeconds = p.integer(v, path, "delay_seconds") },
				"mode":          func(v *yaml.Node, path string) { r.Mode = p.str(v, path, "mode") },
				"version":       func(v *yaml.Node, path string) { r.Version = p.str(v, path, "version") },
				"mitigations":   func(v *yaml.Node, path string) { r.Mitigations = p.mitigations(v, path) },
			})
		},
		"windows_apply_to_rollbacks": func(v *yaml.Node, path string) {
			e.WindowsApplyToRollbacks = p.boolean(v, path, "windows_apply_to_rollbacks")
		},
		"rollback_strategy": func(v *yaml.Node, path string) { e.RollbackStrategy = p.strategy(v, path) },
		"notify":            func(v *yaml.Node, path string) { e.Notify = p.notifyPolicy(v, path) },
		"checklist":         func(v *yaml.Node, path string) { e.Checklist = p.checklist(v, path) },
		"flags":             func(v *yaml.Node, path string) { e.Flags = p.flags(v, path) },
	})
	p.require(n, e.Name != "", "an environment needs a name")
	return e
}

func (p *parser) job(n *yaml.Node, path string) shipgate.Job {
	var j shipgate.Job
	p.mapping(n, path, "job", map[string]fieldFunc{
		"name":    func(v *yaml.Node, path string) { j.Name = p.str(v, path, "name") },
		"needs":   func(v *yaml.Node, path string) { j.Needs = p.strList(v, path, "needs") },
		"runs_on": func(v *yaml.Node, path string) { j.RunsOn = p.strMap(v, path, "runs_on") },
		"timeout": func(v *yaml.Node, path string) { j.Timeout = p.duration(v, path, "timeout") },
		"retries": func(v *yaml.Node, path string) { j.Retries = p.integer(v, path, "retries") },
		"env":     func(v *yaml.Node, path string) { j.Env = p.strMap(v, path, "env") },
		"steps": func(v *yaml.Node, path string) {
			p.sequence(v, path, "steps", func(i int, n *yaml.Node, path string) {
				var s shipgate.Step
				p.mapping(n, path, "step", map[string]fieldFunc{
					"name": func(v *yaml.Node, path string) { s.Name = p.str(v, path, "name") },
					"run":  func(v *yaml.Node, path string) { s.Run = p.str(v, path, "run") },
					"exec": func(v *yaml.Node, path string) { s.Exec = p.strList(v, path, "exec") },
					"evidence": func(v *yaml.Node, path string) {
						s.Evidence = p.stepEvidence(v, path)
					},
				})
				j.Steps = append(j.Steps, s)
			})
		},
		"check":    func(v *yaml.Node, path string) { j.Check = p.check(v, path) },
		"service":  func(v *yaml.Node, path string) { j.Service = p.serviceProcess(v, path) },
		"strategy": func(v *yaml.Node, path string) { j.Strategy = p.strategy(v, path) },
	})
	p.require(n, j.Name != "", "a job needs a name")
	return j
}

func (p *parser) check(n *yaml.Node, path string) *shipgate.Check {
	c := &shipgate.Check{}
	p.mapping(n, path, "check", map[string]fieldFunc{
		"http": func(v *yaml.Node, path string) {
			c.HTTP = &shipgate.HTTPCheck{}
			p.mapping(v, path, "http check", map[string]fieldFunc{
				"url":           func(v *yaml.Node, path string) { c.HTTP.URL = p.str(v, path, "url") },
				"method":        func(v *yaml.Node, path string) { c.HTTP.Method = p.str(v, path, "method") },
				"expect_status": func(v *yaml.Node, path string) { c.HTTP.ExpectStatus = p.intOrList(v, path, "expect_status") },
				"body_contains": func(v *yaml.Node, path string) { c.HTTP.BodyContains = p.str(v, path, "body_contains") },
				"json_path":     func(v *yaml.Node, path string) { c.HTTP.JSONPath = p.str(v, path, "json_path") },
				"json_equals":   func(v *yaml.Node, path string) { c.HTTP.JSONEquals = p.str(v, path, "json_equals") },
				"timeout":       func(v *yaml.Node, path string) { c.HTTP.Timeout = p.duration(v, path, "timeout") },
			})
		},
		"tcp": func(v *yaml.Node, path string) {
			c.TCP = &shipgate.TCPCheck{}
			p.mapping(v, path, "tcp check", map[string]fieldFunc{
				"address": func(v *yaml.Node, path string) { c.TCP.Address = p.str(v, path, "address") },
			})
		},
		"command": func(v *yaml.Node, path string) {
			c.Command = &shipgate.CommandCheck{}
			p.mapping(v, path, "command check", map[string]fieldFunc{
				"run":  func(v *yaml.Node, path string) { c.Command.Run = p.str(v, path, "run") },
				"exec": func(v *yaml.Node, path string) { c.Command.Exec = p.strList(v, path, "exec") },
			})
		},
		"interval":   func(v *yaml.Node, path string) { c.Interval = p.duration(v, path, "interval") },
		"pass_after": func(v *yaml.Node, path string) { c.PassAfter = p.integer(v, path, "pass_after") },
		"fail_after": func(v *yaml.Node, path string) { c.FailAfter = p.integer(v, path, "fail_after") },
		"timeout":    func(v *yaml.Node, path string) { c.Timeout = p.duration(v, path, "timeout") },
	})
	return c
}

func (p *parser) approvals(n *yaml.Node, path, what string, a *shipgate.ApprovalPolicy) {
	p.mapping(n, path, what, map[string]fieldFunc{
		"required":            func(v *yaml.Node, path string) { a.Required = p.integer(v, path, "required") },
		"from_groups":         func(v *yaml.Node, path string) { a.FromGroups = p.strList(v, path, "from_groups") },
		"allow_self_approval": func(v *yaml.Node, path string) { a.AllowSelfApproval = p.boolean(v, path, "allow_self_approval") },
		"expires_after":       func(v *yaml.Node, path string) { a.ExpiresAfter = p.duration(v, path, "expires_after") },
	})
}

// mitigations parses a rollback policy's flag mitigations: [{flag, variant}].
func (p *parser) mitigations(n *yaml.Node, path string) []shipgate.FlagMitigation {
	var out []shipgate.FlagMitigation
	p.sequence(n, path, "mitigations", func(i int, n *yaml.Node, path string) {
		var m shipgate.FlagMitigation
		p.mapping(n, path, "mitigation", map[string]fieldFunc{
			"flag":    func(v *yaml.Node, path string) { m.Flag = p.str(v, path, "flag") },
			"variant": func(v *yaml.Node, path string) { m.Variant = p.str(v, path, "variant") },
		})
		out = append(out, m)
	})
	return out
}

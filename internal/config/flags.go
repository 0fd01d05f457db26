package config

import (
	"fmt"
	"math"
	"strconv"

	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// flags parses a list of feature flags (spec.flags, or an environment's
// flags, which replace the service's of the same key). The parser checks
// the shape — known keys, lists, mappings — and records every line;
// shipgate.ValidateFlags checks the meaning (variant values of the flag's
// type, existing default and safe variants, percentages summing to 100,
// regexes and versions that parse), and its problems land at these lines.
func (p *parser) flags(n *yaml.Node, path string) []shipgate.Flag {
	var out []shipgate.Flag
	p.sequence(n, path, "flags", func(i int, n *yaml.Node, path string) {
		f := shipgate.Flag{}
		p.mapping(n, path, "flag", map[string]fieldFunc{
			"key":             func(v *yaml.Node, path string) { f.Key = p.str(v, path, "key") },
			"type":            func(v *yaml.Node, path string) { f.Type = shipgate.FlagType(p.str(v, path, "type")) },
			"description":     func(v *yaml.Node, path string) { f.Description = p.str(v, path, "description") },
			"variants":        func(v *yaml.Node, path string) { f.Variants = p.variants(v, path) },
			"default_variant": func(v *yaml.Node, path string) { f.DefaultVariant = p.str(v, path, "default_variant") },
			"safe_variant":    func(v *yaml.Node, path string) { f.SafeVariant = p.str(v, path, "safe_variant") },
			"enabled":         func(v *yaml.Node, path string) { f.Disabled = !p.boolean(v, path, "enabled") },
			"rules": func(v *yaml.Node, path string) {
				p.sequence(v, path, "rules", func(i int, n *yaml.Node, path string) {
					f.Rules = append(f.Rules, p.flagRule(n, path))
				})
			},
			"rollout": func(v *yaml.Node, path string) { f.Rollout = p.flagRollout(v, path) },
		})
		out = append(out, f)
	})
	return out
}

func (p *parser) variants(n *yaml.Node, path string) map[string]any {
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			p.fail(n, "variants must be a mapping of variant names to values, not %s", kindName(n))
		}
		return nil
	}
	out := map[string]any{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k, "variant names must be plain words")
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.fail(k, "variant %q appears twice", k.Value)
			continue
		}
		p.lines[join(path, k.Value)] = k.Line
		val, ok := p.value(v, "variant "+strconv.Quote(k.Value))
		if ok {
			out[k.Value] = val
		}
	}
	return out
}

func (p *parser) flagRule(n *yaml.Node, path string) shipgate.FlagRule {
	var r shipgate.FlagRule
	p.mapping(n, path, "rule", map[string]fieldFunc{
		"name":    func(v *yaml.Node, path string) { r.Name = p.str(v, path, "name") },
		"variant": func(v *yaml.Node, path string) { r.Variant = p.str(v, path, "variant") },
		"rollout": func(v *yaml.Node, path string) { r.Rollout = p.flagRollout(v, path) },
		"when": func(v *yaml.Node, path string) {
			p.sequence(v, path, "when", func(i int, n *yaml.Node, path string) {
				var c shipgate.FlagCondition
				p.mapping(n, path, "condition", map[string]fieldFunc{
					"attribute": func(v *yaml.Node, path string) { c.Attribute = p.str(v, path, "attribute") },
					"op":        func(v *yaml.Node, path string) { c.Op = shipgate.FlagOp(p.str(v, path, "op")) },
					"value": func(v *yaml.Node, path string) {
						if val, ok := p.value(v, "value"); ok {
							c.Value = val
						}
					},
				})
				r.When = append(r.When, c)
			})
		},
	})
	return r
}

func (p *parser) flagRollout(n *yaml.Node, path string) *shipgate.FlagRollout {
	r := &shipgate.FlagRollout{}
	p.mapping(n, path, "rollout", map[string]fieldFunc{
		"by": func(v *yaml.Node, path string) { r.By = p.str(v, path, "by") },
		"split": func(v *yaml.Node, path string) {
			p.sequence(v, path, "split", func(i int, n *yaml.Node, path string) {
				var s shipgate.FlagSplit
				p.mapping(n, path, "share", map[string]fieldFunc{
					"variant": func(v *yaml.Node, path string) { s.Variant = p.str(v, path, "variant") },
					"percent": func(v *yaml.Node, path string) {
						if x, ok := p.value(v, "percent"); ok {
							if f, isNum := x.(float64); isNum {
								s.Percent = f
								return
							}
						}
						if v.Kind == yaml.ScalarNode {
							p.fail(v, "percent must be a number such as 10 or 2.5, not %s", kindName(v))
						}
					},
				})
				r.Split = append(r.Split, s)
			})
		},
	})
	return r
}

// value converts a YAML node into the JSON value it denotes: bool, string,
// float64, nil, []any or map[string]any. what names it for messages.
func (p *parser) value(n *yaml.Node, what string) (any, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				p.fail(n, "%s: %v", what, err)
				return nil, false
			}
			return b, true
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				p.fail(n, "%s must be a finite number, not %s", what, kindName(n))
				return nil, false
			}
			return f, true
		case "!!str":
			return n.Value, true
		}
		p.fail(n, "%s has an unsupported YAML type %s; write it as a string, number, boolean, list or mapping", what, n.Tag)
		return nil, false
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			v, ok := p.value(item, fmt.Sprintf("%s[%d]", what, i))
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				p.fail(k, "keys in %s must be plain words", what)
				return nil, false
			}
			if _, dup := out[k.Value]; dup {
				p.fail(k, "key %q appears twice in %s", k.Value, what)
				return nil, false
			}
			x, ok := p.value(v, what+"."+k.Value)
			if !ok {
				return nil, false
			}
			out[k.Value] = x
		}
		return out, true
	}
	p.fail(n, "%s must be a value, not %s", what, kindName(n))
	return nil, false
}

package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// parser walks a YAML node tree against the service-file schema. It records
// the line of every path it visits, in the same path syntax the domain's
// validation uses ("spec.pipeline.jobs[1].needs[0]"), so semantic errors can
// be reported at the right line.
type parser struct {
	file  string
	errs  []Problem
	lines map[string]int
}

type fieldFunc func(v *yaml.Node, path string)

func (p *parser) failAt(line int, format string, args ...any) {
	p.errs = append(p.errs, Problem{File: p.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) fail(n *yaml.Node, format string, args ...any) {
	p.failAt(n.Line, format, args...)
}

func (p *parser) require(n *yaml.Node, ok bool, msg string) {
	if !ok && n.Kind == yaml.MappingNode {
		p.fail(n, "%s", msg)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf finds the line of path, or of its nearest recorded ancestor.
func (p *parser) lineOf(path string) int {
	for path != "" {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "empty"
	}
	return fmt.Sprintf("%q", n.Value)
}

// mapping visits the keys of a mapping node, refusing unknown and repeated
// keys. what names the thing for messages ("job", "approvals").
func (p *parser) mapping(n *yaml.Node, path, what string, fields map[string]fieldFunc) {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return // an empty section: nothing set
		}
		p.fail(n, "%s must be a mapping of keys to values, not %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k, "keys in %s must be plain words", what)
			continue
		}
		if k.Value == "<<" {
			p.fail(k, "merge keys (<<) are not supported in service files; write the keys out")
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			p.fail(k, "unknown key %q in %s%s", k.Value, what, suggest(k.Value, fields))
			continue
		}
		if seen[k.Value] {
			p.fail(k, "key %q appears twice in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		kp := join(path, k.Value)
		p.lines[kp] = k.Line
		f(v, kp)
	}
}

// suggest offers the closest known key for a likely typo.
func suggest(key string, fields map[string]fieldFunc) string {
	best, bestD := "", 3
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
		if d := shipgate.EditDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	sort.Strings(known)
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return " (known keys: " + strings.Join(known, ", ") + ")"
}

func (p *parser) sequence(n *yaml.Node, path, what string, each func(i int, n *yaml.Node, path string)) {
	if n.Kind != yaml.SequenceNode {
		if n.Tag == "!!null" {
			return
		}
		p.fail(n, "%s must be a list, not %s", what, kindName(n))
		return
	}
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		p.lines[ip] = item.Line
		each(i, item, ip)
	}
}

func (p *parser) scalar(n *yaml.Node, what, want string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, "%s must be %s, not %s", what, want, kindName(n))
		return false
	}
	return true
}

func (p *parser) str(n *yaml.Node, path, what string) string {
	if !p.scalar(n, what, "a string") {
		return ""
	}
	return n.Value
}

func (p *parser) integer(n *yaml.Node, path, what string) int {
	if !p.scalar(n, what, "a whole number") {
		return 0
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if n.Tag != "!!int" || err != nil || v > math.MaxInt32 || v < math.MinInt32 {
		p.fail(n, "%s must be a whole number, not %s", what, kindName(n))
		return 0
	}
	return int(v)
}

func (p *parser) boolean(n *yaml.Node, path, what string) bool {
	if !p.scalar(n, what, "true or false") {
		return false
	}
	if n.Tag != "!!bool" {
		p.fail(n, "%s must be true or false, not %s", what, kindName(n))
		return false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
}

func (p *parser) duration(n *yaml.Node, path, what string) shipgate.Duration {
	if !p.scalar(n, what, "a duration such as 90s, 10m or 24h") {
		return 0
	}
	d, err := shipgate.ParseDuration(n.Value)
	if err != nil {
		p.fail(n, "%s: %v", what, err)
		return 0
	}
	return d
}

func (p *parser) strList(n *yaml.Node, path, what string) []string {
	if n.Kind != yaml.SequenceNode {
		if n.Tag == "!!null" {
			return nil
		}
		p.fail(n, "%s must be a list, not %s", what, kindName(n))
		return nil
	}
	out := []string{}
	for i, item := range n.Content {
		p.lines[fmt.Sprintf("%s[%d]", path, i)] = item.Line
		out = append(out, p.str(item, path, what+" entries"))
	}
	return out
}

func (p *parser) intOrList(n *yaml.Node, path, what string) []int {
	if n.Kind == yaml.ScalarNode {
		return []int{p.integer(n, path, what)}
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "%s must be a number or a list of numbers, not %s", what, kindName(n))
		return nil
	}
	var out []int
	for i, item := range n.Content {
		p.lines[fmt.Sprintf("%s[%d]", path, i)] = item.Line
		out = append(out, p.integer(item, path, what+" entries"))
	}
	return out
}

func (p *parser) strMap(n *yaml.Node, path, what string) map[string]string {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return nil
		}
		p.fail(n, "%s must be a mapping of names to values, not %s", what, kindName(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k, "keys in %s must be plain words", what)
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.fail(k, "key %q appears twice in %s", k.Value, what)
			continue
		}
		p.lines[join(path, k.Value)] = k.Line
		out[k.Value] = p.str(v, path, fmt.Sprintf("%s.%s", what, k.Value))
	}
	return out
}

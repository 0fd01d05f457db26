package config

import (
	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// inputs parses a list of input declarations (spec.inputs, or an
// environment's inputs). An empty "inputs:" is the same as "inputs: []":
// the service declares that it takes no inputs, which is different from
// leaving the key out (no declaration: any input is accepted). Names,
// patterns and defaults are checked by shipgate.ServiceSpec.Validate,
// whose problems the parser puts at the lines recorded here.
func (p *parser) inputs(n *yaml.Node, path string) []shipgate.InputDecl {
	out := []shipgate.InputDecl{}
	p.sequence(n, path, "inputs", func(i int, n *yaml.Node, path string) {
		var d shipgate.InputDecl
		p.mapping(n, path, "input", map[string]fieldFunc{
			"name":        func(v *yaml.Node, path string) { d.Name = p.str(v, path, "name") },
			"description": func(v *yaml.Node, path string) { d.Description = p.str(v, path, "description") },
			"required":    func(v *yaml.Node, path string) { d.Required = p.boolean(v, path, "required") },
			"secret":      func(v *yaml.Node, path string) { d.Secret = p.boolean(v, path, "secret") },
			"pattern":     func(v *yaml.Node, path string) { d.Pattern = p.str(v, path, "pattern") },
			"default": func(v *yaml.Node, path string) {
				s := p.str(v, path, "default")
				d.Default = &s
			},
		})
		if n.Kind == yaml.MappingNode && d.Name == "" {
			// Recorded so the "needs a name" problem lands on the item.
			p.lines[path+".name"] = n.Line
		}
		out = append(out, d)
	})
	return out
}

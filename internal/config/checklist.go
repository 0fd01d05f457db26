package config

import (
	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// checklist parses an environment's checklist: items with a name, an
// optional gate (approve or start) and either automated.evidence (a
// condition, checked by ServiceSpec.Validate with its line) or
// manual.owner and manual.evidence.
func (p *parser) checklist(n *yaml.Node, path string) []shipgate.ChecklistItem {
	out := []shipgate.ChecklistItem{}
	p.sequence(n, path, "checklist", func(i int, n *yaml.Node, path string) {
		var it shipgate.ChecklistItem
		p.mapping(n, path, "checklist item", map[string]fieldFunc{
			"name": func(v *yaml.Node, path string) { it.Name = p.str(v, path, "name") },
			"gate": func(v *yaml.Node, path string) { it.Gate = p.str(v, path, "gate") },
			"automated": func(v *yaml.Node, path string) {
				it.Automated = &shipgate.AutomatedCheck{}
				p.mapping(v, path, "automated", map[string]fieldFunc{
					"evidence": func(v *yaml.Node, path string) { it.Automated.Evidence = p.str(v, path, "evidence") },
				})
			},
			"manual": func(v *yaml.Node, path string) {
				it.Manual = &shipgate.ManualCheck{}
				p.mapping(v, path, "manual", map[string]fieldFunc{
					"owner":    func(v *yaml.Node, path string) { it.Manual.Owner = p.str(v, path, "owner") },
					"evidence": func(v *yaml.Node, path string) { it.Manual.Evidence = p.str(v, path, "evidence") },
				})
			},
		})
		if it.Gate == shipgate.GateApprove {
			it.Gate = "" // the default, stored once
		}
		out = append(out, it)
	})
	return out
}

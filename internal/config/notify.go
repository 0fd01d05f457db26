package config

import (
	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// notifyPolicy parses an environment's notify block:
//
//	notify: {sinks: [team-chat], renotify_after: 30m, max_renotify: 3,
//	         escalate_after: 2h, escalate_to: [oncall]}
func (p *parser) notifyPolicy(n *yaml.Node, path string) *shipgate.NotifyPolicy {
	np := &shipgate.NotifyPolicy{}
	p.mapping(n, path, "notify", map[string]fieldFunc{
		"sinks":          func(v *yaml.Node, path string) { np.Sinks = p.strList(v, path, "sinks") },
		"renotify_after": func(v *yaml.Node, path string) { np.RenotifyAfter = p.duration(v, path, "renotify_after") },
		"max_renotify":   func(v *yaml.Node, path string) { np.MaxRenotify = p.integer(v, path, "max_renotify") },
		"escalate_after": func(v *yaml.Node, path string) { np.EscalateAfter = p.duration(v, path, "escalate_after") },
		"escalate_to":    func(v *yaml.Node, path string) { np.EscalateTo = p.strList(v, path, "escalate_to") },
	})
	return np
}

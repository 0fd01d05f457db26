package config

import (
	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// notifyPolicy parses an environment's notify block:
//
//	notify: {sinks: [team-chat], renotify_after: 30m, max_renotify: 3,
//	         escalate_after: 2h, escalate_to: [oncall]}
//
// An explicitly empty sinks list is refused: it would read as "no sinks"
// but an absent list means every sink.
func (p *parser) notifyPolicy(n *yaml.Node, path string) *shipgate.NotifyPolicy {
	np := &shipgate.NotifyPolicy{}
	p.mapping(n, path, "notify", map[string]fieldFunc{
		"sinks": func(v *yaml.Node, path string) {
			// Refused rather than guessed at: left out, sinks means every
			// sink, so an empty list (or an empty "sinks:") would read as
			// "none" and act as "all".
			if np.Sinks = p.strList(v, path, "sinks"); len(np.Sinks) == 0 && (v.Kind == yaml.SequenceNode || v.Tag == "!!null") {
				p.fail(v, "an empty sinks list would silence this environment; omit notify.sinks to use every sink")
			}
		},
		"renotify_after": func(v *yaml.Node, path string) { np.RenotifyAfter = p.duration(v, path, "renotify_after") },
		"max_renotify":   func(v *yaml.Node, path string) { np.MaxRenotify = p.integer(v, path, "max_renotify") },
		"escalate_after": func(v *yaml.Node, path string) { np.EscalateAfter = p.duration(v, path, "escalate_after") },
		"escalate_to":    func(v *yaml.Node, path string) { np.EscalateTo = p.strList(v, path, "escalate_to") },
	})
	return np
}

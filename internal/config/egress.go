package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/shipgate/shipgate/internal/egress"
	"go.yaml.in/yaml/v3"
)

// egress reads the egress section:
//
//	egress:
//	  allow: [artifacts.example.com, 10.20.0.0/16, "prometheus.internal:9090"]
//	  allow_public: true
func (p *parser) egress(n *yaml.Node, path string, pol *egress.Policy) {
	p.mapping(n, path, "egress", map[string]fieldFunc{
		"allow": func(v *yaml.Node, path string) {
			for i, s := range p.strList(v, path, "allow") {
				r, err := egress.ParseRule(s)
				if err != nil {
					p.failAt(p.lineOf(fmt.Sprintf("%s[%d]", path, i)), "%v", err)
					continue
				}
				pol.Allow = append(pol.Allow, r)
			}
		},
		"allow_public": func(v *yaml.Node, path string) { pol.DenyPublic = !p.boolean(v, path, "allow_public") },
	})
}

// checkSinkEgress refuses a sink whose URL names an address the egress
// policy refuses: its every delivery would fail. The message names the
// host and port only, since a sink URL can be a secret (Slack webhooks).
func (p *parser) checkSinkEgress(sinks []Sink, pol *egress.Policy) {
	for i, s := range sinks {
		u, err := url.Parse(s.URL)
		if err != nil || !pol.RefusesLiteral(u) {
			continue
		}
		p.failAt(p.lineOf(fmt.Sprintf("notifications.sinks[%d].url", i)),
			"sink %q sends to %s, which the egress policy refuses; list %s under egress.allow to allow it", s.Name, u.Host, strings.TrimPrefix(strings.TrimPrefix(u.Host, "["), "]"))
	}
}

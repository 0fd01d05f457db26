package config

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/egress"
	"github.com/shipgate/shipgate/webhook"
	"go.yaml.in/yaml/v3"
)

// ServerConfig is the optional server config file (`serve --config`).
type ServerConfig struct {
	// PublicURL is the absolute http(s) URL people and tools reach the
	// server at (behind a proxy, the proxy's), without a trailing slash;
	// notifications link to releases under it. Empty means unknown: links
	// are then paths relative to the server.
	PublicURL     string
	Notifications Notifications
	Tokens        Tokens
	// Egress decides what the server's own outgoing requests may reach:
	// artifact URLs, notification sinks, metric providers of the built-in
	// runner.
	Egress egress.Policy
	// Freezes configures freezes: OverrideGroup is the group whose members
	// may approve an emergency override of a freeze (not their own).
	Freezes Freezes
	// Evidence configures evidence verification (see evidence.go).
	Evidence Evidence
}

// Freezes is the server config's freezes section.
type Freezes struct {
	OverrideGroup string
}

// Tokens configures the API tokens the server issues.
type Tokens struct {
	// MaxLifetime, if set, bounds every token the server issues: a token
	// created without --expires-in gets it, a longer request is refused.
	// 0 means tokens may live forever.
	MaxLifetime shipgate.Duration
}

// MinTokenLifetime is the shortest tokens.max_lifetime accepted: anything
// shorter would make tokens useless for a working session.
const MinTokenLifetime = shipgate.Duration(time.Hour)

// Notifications configures where the server announces what happens.
type Notifications struct {
	Sinks []Sink
	// MaxAttempts bounds deliveries of one notification; after that it is
	// given up and listed by `notify list --failed`.
	MaxAttempts    int
	InitialBackoff shipgate.Duration
	MaxBackoff     shipgate.Duration
}

// Sink types.
const (
	SinkWebhook   = "webhook"
	SinkSlack     = "slack"
	SinkPagerDuty = "pagerduty"
)

// Sink is one destination of notifications.
type Sink struct {
	Name string
	Type string
	URL  string
	// Secrets sign webhook bodies (HMAC-SHA256), one v1= signature per
	// secret: two while a secret is rotated (secrets_env), else one
	// (secret or secret_env). RoutingKey is PagerDuty's integration key.
	// Both may come from environment variables.
	Secrets    []string
	RoutingKey string
	// Events limits the sink to these audit actions (release.failed, …);
	// empty means every action that notifies.
	Events []string
}

// PagerDutyEventsURL is where PagerDuty Events API v2 events go by default.
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// ParseServerConfig reads a server config file strictly, like service
// files: unknown keys and bad values are file:line errors. getenv resolves
// *_env keys.
// NotifyActions are the audit actions a sink's events filter may name.
// (notify.Actions is the same list; config cannot import notify.)
var NotifyActions = []string{
	"release.started", "release.succeeded", "release.failed",
	"rollback.pending", "rollback.unavailable", "rollback.called_off",
	"rollback.held", "rollback.fired", "rollback.failed",
	// A person is needed, or no longer: approval.needed is not an audit
	// action but release.created or release.approvals_lapsed of a release
	// that needs approvals.
	"approval.needed", "approval.expired", "rollout.paused", "rollout.aborted",
	"release.rejected", "release.cancelled",
	"freeze.override_requested", "freeze.override_approved",
	"audit.checkpoint", // not an audit action: signed checkpoints of the log
	"flag.killed",      // the kill switch (enabling the flag again resolves PagerDuty's incident)
}

func ParseServerConfig(file string, src []byte, getenv func(string) string) (*ServerConfig, error) {
	p := &parser{file: file, lines: map[string]int{}}
	cfg := &ServerConfig{Notifications: Notifications{MaxAttempts: 12, InitialBackoff: shipgate.Duration(1e9), MaxBackoff: shipgate.Duration(600e9)}}
	root, err := decodeOne(file, src, "server config")
	if err != nil {
		return nil, err
	}
	if root == nil {
		return cfg, nil
	}
	n := &cfg.Notifications
	p.mapping(root, "", "the server config", map[string]fieldFunc{
		"notifications": func(v *yaml.Node, path string) {
			p.mapping(v, path, "notifications", map[string]fieldFunc{
				"max_attempts":    func(v *yaml.Node, path string) { n.MaxAttempts = p.integer(v, path, "max_attempts") },
				"initial_backoff": func(v *yaml.Node, path string) { n.InitialBackoff = p.duration(v, path, "initial_backoff") },
				"max_backoff":     func(v *yaml.Node, path string) { n.MaxBackoff = p.duration(v, path, "max_backoff") },
				"sinks": func(v *yaml.Node, path string) {
					p.sequence(v, path, "sinks", func(i int, item *yaml.Node, path string) {
						n.Sinks = append(n.Sinks, p.sink(item, path, getenv))
					})
				},
			})
		},
		"tokens": func(v *yaml.Node, path string) {
			p.mapping(v, path, "tokens", map[string]fieldFunc{
				"max_lifetime": func(v *yaml.Node, path string) {
					cfg.Tokens.MaxLifetime = p.duration(v, path, "max_lifetime")
					if cfg.Tokens.MaxLifetime < MinTokenLifetime {
						p.fail(v, "max_lifetime %s is shorter than %s; omit it for tokens without a maximum lifetime", cfg.Tokens.MaxLifetime.Std(), MinTokenLifetime.Std())
					}
				},
			})
		},
		"egress": func(v *yaml.Node, path string) { p.egress(v, path, &cfg.Egress) },
		"freezes": func(v *yaml.Node, path string) {
			p.mapping(v, path, "freezes", map[string]fieldFunc{
				"override_group": func(v *yaml.Node, path string) {
					cfg.Freezes.OverrideGroup = p.str(v, path, "override_group")
					if err := shipgate.ValidateName("group", cfg.Freezes.OverrideGroup); err != nil {
						p.fail(v, "%s", shipgate.ErrorMessage(err))
					}
				},
			})
		},
		"public_url": func(v *yaml.Node, path string) { cfg.PublicURL = p.publicURL(v, path) },
		"evidence":   func(v *yaml.Node, path string) { p.evidence(v, path, &cfg.Evidence) },
	})
	p.checkSinkEgress(n.Sinks, &cfg.Egress)
	names := map[string]bool{}
	for i, s := range n.Sinks {
		path := fmt.Sprintf("notifications.sinks[%d]", i)
		if err := shipgate.ValidateName("sink", s.Name); err != nil {
			p.failAt(p.lineOf(path), "%s", shipgate.ErrorMessage(err))
		}
		if names[s.Name] {
			p.failAt(p.lineOf(path), "sink %q is defined twice", s.Name)
		}
		names[s.Name] = true
	}
	if n.MaxAttempts < 1 {
		p.failAt(p.lineOf("notifications.max_attempts"), "max_attempts must be 1 or more")
	}
	if len(p.errs) > 0 {
		e := &Error{Problems: p.errs}
		e.sort()
		return nil, e
	}
	return cfg, nil
}

func (p *parser) sink(n *yaml.Node, path string, getenv func(string) string) Sink {
	var s Sink
	fromEnv := func(v *yaml.Node, path, what string) string {
		name := p.str(v, path, what)
		val := getenv(name)
		if name != "" && val == "" {
			p.fail(v, "%s names environment variable %s, which is not set", what, name)
		}
		return val
	}
	secretKeys := 0
	setSecrets := func(v *yaml.Node, vals ...string) {
		if secretKeys++; secretKeys > 1 {
			p.fail(v, "use only one of secret, secret_env and secrets_env")
		}
		for _, val := range vals {
			if val != "" {
				s.Secrets = append(s.Secrets, val)
			}
		}
	}
	p.mapping(n, path, "sink", map[string]fieldFunc{
		"name": func(v *yaml.Node, path string) { s.Name = p.str(v, path, "name") },
		"type": func(v *yaml.Node, path string) { s.Type = p.str(v, path, "type") },
		"url":  func(v *yaml.Node, path string) { s.URL = p.str(v, path, "url") },
		"secret": func(v *yaml.Node, path string) {
			val := p.str(v, path, "secret")
			if v.Kind == yaml.ScalarNode && val == "" {
				p.fail(v, "secret is empty; leave it out for unsigned bodies")
			}
			setSecrets(v, val)
		},
		"secret_env": func(v *yaml.Node, path string) { setSecrets(v, fromEnv(v, path, "secret_env")) },
		"secrets_env": func(v *yaml.Node, path string) {
			// Several secrets, each signing: the new and the old one while
			// a secret is rotated (docs/notifications.md).
			names := p.strList(v, path, "secrets_env")
			if v.Kind == yaml.SequenceNode && len(names) == 0 {
				p.fail(v, "secrets_env is empty; list the variables of the new and the old secret")
			}
			var vals []string
			for i, name := range names {
				if slices.Index(names, name) < i {
					p.fail(v.Content[i], "secrets_env names %s twice", name)
					continue
				}
				vals = append(vals, fromEnv(v.Content[i], path, "secrets_env"))
			}
			// Receivers refuse a header with more v1 values than this
			// (webhook.Parse): such a sink would fail every delivery.
			if len(names) > webhook.MaxSecrets {
				p.fail(v, "secrets_env lists %d secrets; a sink signs with at most %d (rotation needs 2: the new and the old one)", len(names), webhook.MaxSecrets)
				return
			}
			setSecrets(v, vals...)
		},
		"routing_key":     func(v *yaml.Node, path string) { s.RoutingKey = p.str(v, path, "routing_key") },
		"routing_key_env": func(v *yaml.Node, path string) { s.RoutingKey = fromEnv(v, path, "routing_key_env") },
		"events": func(v *yaml.Node, path string) {
			s.Events = p.strList(v, path, "events")
			for i, ev := range s.Events {
				if !slices.Contains(NotifyActions, ev) {
					p.failAt(p.lineOf(fmt.Sprintf("%s[%d]", path, i)), "event %q never notifies; use one of %s", ev, strings.Join(NotifyActions, ", "))
				}
			}
		},
	})
	switch s.Type {
	case SinkWebhook, SinkSlack:
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.fail(n, "sink %q needs an http(s) url", s.Name)
		}
	case SinkPagerDuty:
		if s.URL == "" {
			s.URL = PagerDutyEventsURL
		}
		if s.RoutingKey == "" {
			p.fail(n, "pagerduty sink %q needs routing_key or routing_key_env", s.Name)
		}
	default:
		p.fail(n, "sink %q has type %q; use webhook, slack or pagerduty", s.Name, s.Type)
	}
	return s
}

// publicURL checks public_url: an absolute http(s) URL with a host and no
// credentials, query or fragment (they would end up in every link sent).
func (p *parser) publicURL(v *yaml.Node, path string) string {
	raw := p.str(v, path, "public_url")
	if v.Kind != yaml.ScalarNode {
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		p.fail(v, "public_url %q is not an absolute http(s) URL such as https://shipgate.example.com", raw)
	case u.User != nil:
		p.fail(v, "public_url must not hold a user or password")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.Contains(raw, "#"):
		p.fail(v, "public_url must not have a query or fragment")
	default:
		return strings.TrimSuffix(raw, "/")
	}
	return ""
}

// LoadServerConfig reads the file at path; an empty path is no config.
func LoadServerConfig(path string, getenv func(string) string) (*ServerConfig, error) {
	if path == "" {
		return ParseServerConfig("", nil, getenv)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseServerConfig(path, src, getenv)
}

package config_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
)

const notifyService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: production
      approvals: {required: 1}
      notify:
%s
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

func withNotify(block string) []byte {
	return []byte(strings.Replace(notifyService, "%s", block, 1))
}

func TestParseNotifyPolicy(t *testing.T) {
	spec, locate, err := config.ParseServiceLines("svc.yaml", withNotify(`        sinks: [team-chat]
        renotify_after: 30m
        escalate_after: 2h
        escalate_to: [oncall]`))
	if err != nil {
		t.Fatal(err)
	}
	n := spec.Environments[0].Notify
	if n == nil || n.Sinks[0] != "team-chat" || n.RenotifyAfter.Std().Minutes() != 30 || n.EscalateAfter.Std().Hours() != 2 || n.EscalateTo[0] != "oncall" || n.Reminders() != shipgate.DefaultMaxRenotify {
		t.Fatalf("notify policy: %+v", n)
	}
	// Known sinks pass; others are refused at their line.
	if err := shipgate.CheckNotifySinks(spec, []string{"team-chat", "oncall"}); err != nil {
		t.Fatalf("known sinks refused: %v", err)
	}
	err = locate.Error(shipgate.CheckNotifySinks(spec, []string{"team-chat", "pager"}))
	if err == nil || !strings.Contains(err.Error(), `svc.yaml:12: sink "oncall" is not configured on the server (it has "team-chat", "pager")`) {
		t.Fatalf("unknown sink: %v", err)
	}
	if err := shipgate.CheckNotifySinks(spec, []string{}); err == nil || !strings.Contains(err.Error(), "the server has no notification sinks") {
		t.Fatalf("no sinks: %v", err)
	}
}

func TestParseNotifyPolicyRefusals(t *testing.T) {
	for _, c := range []struct{ block, want string }{
		{"        sinks: [a]\n        renotfy_after: 30m", `svc.yaml:10: unknown key "renotfy_after"`},
		{"        renotify_after: soon", "svc.yaml:9: renotify_after"},
		{"        renotify_after: 10s", "svc.yaml:9: renotify_after 10s is shorter than a minute"},
		{"        escalate_after: 1h", "svc.yaml:9: escalate_after needs escalate_to"},
		{"        escalate_to: [oncall]", "svc.yaml:9: escalate_to needs escalate_after"},
		{"        max_renotify: 2", "svc.yaml:9: max_renotify needs renotify_after"},
		{"        renotify_after: 1h\n        max_renotify: 99", "svc.yaml:10: max_renotify must be between 1 and 20"},
		{"        sinks: [a, a]", `svc.yaml:9: sink "a" is named twice`},
		// An empty list was frozen as "notify": {} and then meant every
		// sink, the opposite of what it says.
		{"        sinks: []", "svc.yaml:9: an empty sinks list would silence this environment; omit notify.sinks to use every sink"},
		{"        sinks:\n        renotify_after: 1h", "svc.yaml:9: an empty sinks list would silence this environment"},
	} {
		_, err := config.ParseService("svc.yaml", withNotify(c.block))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.block, err, c.want)
		}
	}
}

func TestServerPublicURL(t *testing.T) {
	env := func(string) string { return "" }
	cfg, err := config.ParseServerConfig("s.yaml", []byte("public_url: https://shipgate.example.com/\n"), env)
	if err != nil || cfg.PublicURL != "https://shipgate.example.com" {
		t.Fatalf("public_url: %+v %v", cfg, err)
	}
	if _, err := config.ParseServerConfig("s.yaml", []byte("public_url: shipgate.example.com\n"), env); err == nil || !strings.Contains(err.Error(), "s.yaml:1: public_url") {
		t.Fatalf("public_url without a scheme: %v", err)
	}
	if _, err := config.ParseServerConfig("s.yaml", []byte("notifications:\n  sinks:\n    - {name: x, type: slack, url: \"https://a\", events: [approval.needed, rollout.paused]}\n"), env); err != nil {
		t.Fatalf("person-needed events refused: %v", err)
	}
}

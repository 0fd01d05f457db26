package config_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/config"
)

func TestServerConfigEgress(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := config.ParseServerConfig("server.yaml", []byte(`egress:
  allow: [artifacts.example.com, 10.20.0.0/16, "prometheus.internal:9090", "*.svc.corp.test", "[fd00::9]:443"]
notifications:
  sinks:
    - {name: hook, type: webhook, url: "http://10.20.1.2:8080/hook"}
    - {name: chat, type: slack, url: "https://hooks.slack.com/services/T/B/SECRET"}
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Egress.Allow {
		got = append(got, r.String())
	}
	if strings.Join(got, " ") != "artifacts.example.com 10.20.0.0/16 prometheus.internal:9090 *.svc.corp.test [fd00::9]:443" || cfg.Egress.DenyPublic {
		t.Fatalf("egress %v, deny public %v", got, cfg.Egress.DenyPublic)
	}
	if cfg, err := config.ParseServerConfig("server.yaml", []byte("egress:\n  allow_public: false\n"), noEnv); err != nil || !cfg.Egress.DenyPublic {
		t.Fatalf("allow_public: false: %+v, %v", cfg, err)
	}
	if cfg, err := config.ParseServerConfig("", nil, noEnv); err != nil || len(cfg.Egress.Allow) != 0 || cfg.Egress.DenyPublic {
		t.Fatalf("no config: %+v, %v", cfg, err)
	}

	for _, bad := range []struct{ src, want string }{
		{"egress:\n  allow: [ok.example.com, \"http://x.example.com/\"]\n", `server.yaml:2: egress entry "http://x.example.com/" is not`},
		{"egress:\n  allow:\n    - 10.0.0.0/8\n    - 10.0.0.0/99\n", `server.yaml:4: egress entry "10.0.0.0/99" is not a valid CIDR`},
		{"egress:\n  allow: [\"db.internal:0\"]\n", `server.yaml:2: egress entry "db.internal:0" has a port that is not a number from 1 to 65535`},
		{"egress:\n  alow: [x.example.com]\n", `server.yaml:2: unknown key "alow" in egress; did you mean "allow"?`},
		{"egress:\n  allow: x.example.com\n", `server.yaml:2: allow must be a list`},
		{"egress:\n  allow_public: maybe\n", `server.yaml:2:`},
		// A sink on an address the policy refuses could never be reached:
		// named at start, by host only (the URL may be a secret).
		{"notifications:\n  sinks:\n    - name: hook\n      type: webhook\n      url: http://127.0.0.1:9000/T/SECRET\n",
			`server.yaml:5: sink "hook" sends to 127.0.0.1:9000, which the egress policy refuses; list 127.0.0.1:9000 under egress.allow`},
		{"egress: {allow: [\"127.0.0.1:9001\"]}\nnotifications:\n  sinks:\n    - {name: hook, type: webhook, url: \"http://localhost:9000/x\"}\n",
			`server.yaml:4: sink "hook" sends to localhost:9000, which the egress policy refuses`},
	} {
		_, err := config.ParseServerConfig("server.yaml", []byte(bad.src), noEnv)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v\nwant %s", bad.src, err, bad.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error shows the sink URL: %v", err)
		}
	}
}

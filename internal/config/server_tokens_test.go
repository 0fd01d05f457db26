package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/config"
)

func TestServerConfigTokens(t *testing.T) {
	noenv := func(string) string { return "" }
	cfg, err := config.ParseServerConfig("server.yaml", []byte("tokens:\n  max_lifetime: 2160h\n"), noenv)
	if err != nil || cfg.Tokens.MaxLifetime.Std() != 2160*time.Hour {
		t.Fatalf("max_lifetime: %+v %v", cfg, err)
	}
	if cfg, _ := config.ParseServerConfig("server.yaml", []byte("tokens:\n  max_lifetime: 90d\n"), noenv); cfg.Tokens.MaxLifetime.Std() != 2160*time.Hour {
		t.Fatalf("90d = %s", cfg.Tokens.MaxLifetime.Std())
	}
	if cfg, _ := config.ParseServerConfig("", nil, noenv); cfg.Tokens.MaxLifetime != 0 {
		t.Fatal("no config sets a maximum token lifetime")
	}
	for _, bad := range []struct{ src, want string }{
		{"tokens:\n  max_lifetime: forever\n", `server.yaml:2: max_lifetime: "forever" is not a duration`},
		{"tokens:\n  max_lifetime: 5m\n", "server.yaml:2: max_lifetime 5m0s is shorter than 1h0m0s"},
		{"tokens:\n  max_lifetme: 24h\n", `server.yaml:2: unknown key "max_lifetme"`},
		{"tokens: 24h\n", "server.yaml:1:"},
		{"notifications: {}\ntokens:\n  max_lifetime: [1]\n", "server.yaml:3:"},
	} {
		if _, err := config.ParseServerConfig("server.yaml", []byte(bad.src), noenv); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.src, err, bad.want)
		}
	}
}

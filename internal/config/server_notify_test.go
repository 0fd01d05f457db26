package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/config"
)

func TestServerConfigPublicURL(t *testing.T) {
	noenv := func(string) string { return "" }
	for src, want := range map[string]string{
		"public_url: https://shipgate.example.com\n":          "https://shipgate.example.com",
		"public_url: https://shipgate.example.com/\n":         "https://shipgate.example.com",
		"public_url: http://10.0.0.5:8080/shipgate/\n":        "http://10.0.0.5:8080/shipgate",
		"notifications: {max_attempts: 3}\n":                  "",
		"public_url: \"https://ship.example.com:8443/a/b\"\n": "https://ship.example.com:8443/a/b",
	} {
		cfg, err := config.ParseServerConfig("server.yaml", []byte(src), noenv)
		if err != nil || cfg.PublicURL != want {
			t.Errorf("%q: %q %v, want %q", src, cfg.PublicURL, err, want)
		}
	}
	for _, bad := range []struct{ src, want string }{
		{"public_url: shipgate.example.com\n", "server.yaml:1: public_url \"shipgate.example.com\" is not an absolute http(s) URL"},
		{"public_url: ftp://shipgate.example.com\n", "server.yaml:1: public_url \"ftp://shipgate.example.com\" is not an absolute http(s) URL"},
		{"notifications: {}\npublic_url: https://\n", "server.yaml:2: public_url \"https://\" is not an absolute http(s) URL"},
		{"public_url: https://user:pw@shipgate.example.com\n", "server.yaml:1: public_url must not hold a user or password"},
		{"public_url: https://shipgate.example.com/?x=1\n", "server.yaml:1: public_url must not have a query or fragment"},
		{"public_url: https://shipgate.example.com/#top\n", "server.yaml:1: public_url must not have a query or fragment"},
		{"public_url: [https://a]\n", "server.yaml:1:"},
	} {
		if _, err := config.ParseServerConfig("server.yaml", []byte(bad.src), noenv); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.src, err, bad.want)
		}
	}
}

// A webhook sink may sign with several secrets while one is rotated.
func TestServerConfigSinkSecrets(t *testing.T) {
	env := map[string]string{"NEW": "new-secret", "OLD": "old-secret", "ONE": "only", "S3": "s3", "S4": "s4", "S5": "s5"}
	getenv := func(k string) string { return env[k] }
	for src, want := range map[string][]string{
		"{name: h, type: webhook, url: \"https://a\", secret: lit}":                     {"lit"},
		"{name: h, type: webhook, url: \"https://a\", secret_env: ONE}":                 {"only"},
		"{name: h, type: webhook, url: \"https://a\", secrets_env: [NEW, OLD]}":         {"new-secret", "old-secret"},
		"{name: h, type: webhook, url: \"https://a\", secrets_env: [OLD]}":              {"old-secret"},
		"{name: h, type: webhook, url: \"https://a\", secrets_env: [NEW, OLD, S3, S4]}": {"new-secret", "old-secret", "s3", "s4"},
		"{name: h, type: webhook, url: \"https://a\"}":                                  nil,
	} {
		cfg, err := config.ParseServerConfig("server.yaml", []byte("notifications:\n  sinks:\n    - "+src+"\n"), getenv)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := cfg.Notifications.Sinks[0].Secrets; !slices.Equal(got, want) {
			t.Errorf("%s: secrets %q, want %q", src, got, want)
		}
	}
	for _, bad := range []struct{ src, want string }{
		{"{name: h, type: webhook, url: \"https://a\", secret: a, secrets_env: [NEW]}", "server.yaml:3: use only one of secret, secret_env and secrets_env"},
		{"{name: h, type: webhook, url: \"https://a\", secret_env: ONE, secrets_env: [NEW]}", "server.yaml:3: use only one of secret, secret_env and secrets_env"},
		{"{name: h, type: webhook, url: \"https://a\", secrets_env: [NEW, NOPE]}", "server.yaml:3: secrets_env names environment variable NOPE, which is not set"},
		{"{name: h, type: webhook, url: \"https://a\", secrets_env: [NEW, NEW]}", "server.yaml:3: secrets_env names NEW twice"},
		{"{name: h, type: webhook, url: \"https://a\", secrets_env: []}", "server.yaml:3: secrets_env is empty"},
		{"{name: h, type: webhook, url: \"https://a\", secret: \"\"}", "server.yaml:3: secret is empty"},
		// Receivers (webhook.Parse) refuse a header with more v1 values
		// than webhook.MaxSecrets: such a sink would fail every delivery.
		{"{name: h, type: webhook, url: \"https://a\", secrets_env: [NEW, OLD, S3, S4, S5]}", "server.yaml:3: secrets_env lists 5 secrets; a sink signs with at most 4"},
	} {
		if _, err := config.ParseServerConfig("server.yaml", []byte("notifications:\n  sinks:\n    - "+bad.src+"\n"), getenv); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.src, err, bad.want)
		}
	}
}

package config_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/config"
)

func TestServerConfigEvidenceSignature(t *testing.T) {
	noenv := func(string) string { return "" }
	cfg, err := config.ParseServerConfig("/etc/shipgate/server.yaml", []byte("evidence:\n  signature:\n    public_key: keys/cosign.pub\n"), noenv)
	if err != nil || cfg.Evidence.Signature.PublicKey != "/etc/shipgate/keys/cosign.pub" || !cfg.Evidence.Signature.Configured() {
		t.Errorf("public_key: %+v %v", cfg.Evidence, err)
	}
	cfg, err = config.ParseServerConfig("s.yaml", []byte("evidence:\n  signature:\n    trusted_root: /r/trusted_root.json\n    identity: https://github.com/shop/api/.github/workflows/release.yml@refs/heads/main\n    issuer: https://token.actions.githubusercontent.com\n"), noenv)
	if err != nil || cfg.Evidence.Signature.TrustedRoot != "/r/trusted_root.json" || cfg.Evidence.Signature.Issuer != "https://token.actions.githubusercontent.com" {
		t.Errorf("trusted_root: %+v %v", cfg.Evidence, err)
	}
	if cfg, _ := config.ParseServerConfig("s.yaml", []byte("public_url: https://x.example.com\n"), noenv); cfg.Evidence.Signature.Configured() {
		t.Error("no evidence section configures signatures")
	}
	for _, bad := range []struct{ src, want string }{
		{"evidence:\n  signature:\n    public_key: a.pub\n    trusted_root: r.json\n", "s.yaml:2: evidence.signature: give public_key or trusted_root, not both"},
		{"evidence:\n  signature: {}\n", "s.yaml:2: evidence.signature: give public_key (a PEM file) or trusted_root"},
		{"evidence:\n  signature:\n    trusted_root: r.json\n    identity: me@example.com\n", "s.yaml:2: evidence.signature: trusted_root needs identity and issuer"},
		{"evidence:\n  signature:\n    public_key: a.pub\n    issuer: x\n", "identity and issuer are for trusted_root"},
		{"evidence:\n  signature:\n    public_key: a.pub\n    pubkey: b\n", "s.yaml:4: "},
		{"evidence:\n  signatures: {}\n", "s.yaml:2: "},
	} {
		if _, err := config.ParseServerConfig("s.yaml", []byte(bad.src), noenv); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.src, err, bad.want)
		}
	}
}

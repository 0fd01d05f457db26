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

const stepEvidenceService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments:
    - name: staging
  pipeline:
    jobs:
      - name: test
        steps:
          - run: go test -coverprofile=cover.out ./...
            evidence:
%s
`

func TestStepEvidence(t *testing.T) {
	src := strings.Replace(stepEvidenceService, "%s", `              - {type: coverage, path: cover.out}
              - {type: tests, path: reports/junit.xml, name: unit tests}`, 1)
	spec, err := config.ParseService("svc.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ev := spec.Pipeline.Jobs[0].Steps[0].Evidence
	if len(ev) != 2 || ev[0].Type != "coverage" || ev[0].Path != "cover.out" || ev[1].Name != "unit tests" || ev[1].Path != "reports/junit.xml" {
		t.Errorf("evidence %+v", ev)
	}
	for _, bad := range []struct{ block, want string }{
		{"              - {type: coverge, path: c.out}", `svc.yaml:13: unknown evidence type "coverge"`},
		{"              - {type: coverage, path: /etc/passwd}", `svc.yaml:13: evidence path "/etc/passwd" must be relative and stay inside the job's directory`},
		{"              - {type: coverage, path: ../../x}", "must be relative and stay inside"},
		{"              - {type: coverage}", "svc.yaml:13: evidence needs a path"},
		{"              - {type: link, path: x}", "a step attaches files"},
		{"              - {type: file, path: x, url: y}", "svc.yaml:13: "},
		{"              type: file", "svc.yaml:13: "},
	} {
		_, err := config.ParseService("svc.yaml", []byte(strings.Replace(stepEvidenceService, "%s", bad.block, 1)))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v; want %q", bad.block, err, bad.want)
		}
	}
}

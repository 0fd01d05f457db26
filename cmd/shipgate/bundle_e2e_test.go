package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
)

// The auditor's path with the built binary: a release created, approved by
// two people and run; its bundle written, verified offline with the key
// recorded out of band; a changed byte and a wrong key refused.
func TestReleaseBundleE2E(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testReleaseBundle(t, startServer(t)) })
	t.Run("postgres", func(t *testing.T) {
		dsn := testutil.RequirePostgres(t).NewDatabase(t)
		testReleaseBundle(t, startServerWith(t, []string{"--database", dsn}))
	})
}

const bundleService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments:
    - name: production
      approvals: {required: 2, from_groups: [release-managers]}
      policies: [versioned]
      checklist:
        - name: coverage
          automated: { evidence: "coverage.line_percent >= 50" }
        - name: change ticket
          manual: { owner: release-managers, evidence: link required }
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

const bundlePolicy = `package shipgate.versioned

deny contains msg if {
	input.release.version == ""
	msg := "a release needs a version"
}
`

func testReleaseBundle(t *testing.T, s *server) {
	s.ok("admin", "user", "create", "carol", "--role", "deployer")
	s.ok("admin", "user", "create", "alice", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "bob", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "vic", "--role", "viewer")
	for _, u := range []string{"carol", "alice", "bob", "vic"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}
	// Recorded out of band, as the docs ask: the text form and the PEM.
	keyText := strings.TrimSpace(s.ok("", "audit", "public-key", "--key-file", filepath.Join(s.dir, "data", "audit-signing.key")))
	keyDir := t.TempDir()
	pemFile, jsonFile := filepath.Join(keyDir, "audit.pem"), filepath.Join(keyDir, "audit.json")
	os.WriteFile(pemFile, []byte(s.ok("vic", "audit", "public-key", "--pem")), 0o644)
	os.WriteFile(jsonFile, []byte(s.ok("vic", "audit", "public-key", "-o", "json")), 0o644)

	pol := filepath.Join(s.workDir, "versioned.rego")
	os.WriteFile(pol, []byte(bundlePolicy), 0o644)
	s.ok("admin", "policy", "apply", "-f", pol)
	svc := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(svc, []byte(bundleService), 0o644)
	s.ok("admin", "apply", "-f", svc)
	os.WriteFile(filepath.Join(s.workDir, "shop-1.4.tar"), []byte("shop 1.4"), 0o644)
	// The checkpoints a sink would have archived: one before the release,
	// one after it ran.
	early, cps := filepath.Join(keyDir, "early.jsonl"), filepath.Join(keyDir, "checkpoints.jsonl")
	s.ok("vic", "audit", "checkpoint", "-o", early)
	s.ok("vic", "audit", "checkpoint", "-o", cps, "--append")
	r := s.create("carol", "shop", "--env", "production", "--version", "1.4", "--artifact", "shop-1.4.tar")
	id := fmt.Sprint(r.ID)
	os.WriteFile(filepath.Join(s.workDir, "cover.out"), []byte("mode: set\nshop/cart.go:1.1,2.2 3 1\n"), 0o644)
	s.ok("carol", "evidence", "add", id, "--type", "coverage", "--file", "cover.out")
	s.ok("alice", "checklist", "tick", id, "change ticket", "--link", "https://tickets.example.com/CHG-7")
	s.ok("alice", "approve", id)
	s.ok("bob", "approve", id)
	if out := s.ok("carol", "release", "wait", id); !strings.Contains(out, "succeeded") {
		t.Fatalf("wait: %s", out)
	}

	s.ok("vic", "audit", "checkpoint", "-o", cps, "--append")
	file := filepath.Join(t.TempDir(), "release.bundle.json")
	res := s.run("vic", "release", "bundle", id, "-o", file)
	if res.code != 0 || !strings.Contains(res.stderr, "wrote the evidence bundle of release "+id+" to "+file) {
		t.Fatalf("release bundle: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// verify-bundle needs no server: none is configured for it.
	offline := func(args ...string) result {
		t.Helper()
		saved := s.url
		s.url = "http://127.0.0.1:1"
		defer func() { s.url = saved }()
		return s.run("", append([]string{"verify-bundle", file}, args...)...)
	}
	for _, key := range []string{keyText, pemFile, jsonFile} {
		res := offline("--public-key", key)
		if res.code != 0 {
			t.Fatalf("verify-bundle --public-key %s: exit %d\n%s", key, res.code, res.stderr)
		}
		for _, want := range []string{
			"OK: release " + id + " of shop 1.4 → production (succeeded), artifact sha256:",
			"alice approved at", "bob approved at", "policy decisions (all allow)", "checklist 2/2 held", `checklist item "change ticket" ticked by alice at `, "1 evidence items", "chained into checkpoint seq",
		} {
			if !strings.Contains(res.stdout, want) {
				t.Fatalf("verify-bundle output lacks %q:\n%s", want, res.stdout)
			}
		}
	}
	var rep struct {
		ReleaseID   int64  `json:"release_id"`
		Artifact    string `json:"artifact"`
		AuditEvents int    `json:"audit_events"`
		Covered     bool   `json:"covered"`
		KeyID       string `json:"key_id"`
		Approvals   []struct {
			Actor string `json:"actor"`
		} `json:"approvals"`
	}
	res = offline("--public-key", keyText, "-o", "json")
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || res.code != 0 {
		t.Fatalf("verify-bundle -o json: %v\n%s%s", err, res.stdout, res.stderr)
	}
	key, _ := shipgate.ParseAuditPublicKey(keyText)
	if rep.ReleaseID != r.ID || !rep.Covered || rep.KeyID != key.ID() || len(rep.Approvals) != 2 || rep.AuditEvents < 6 || !strings.HasPrefix(rep.Artifact, "sha256:") {
		t.Fatalf("verify-bundle -o json: %+v", rep)
	}

	// Held to the archive: the checkpoint after the run lies in the
	// bundle's chain and agrees; one from before the release says nothing.
	if res := offline("--public-key", keyText, "--checkpoint", cps); res.code != 0 || !strings.Contains(res.stdout, "1 checkpoints archived outside the server agree with the chain") {
		t.Fatalf("verify-bundle --checkpoint: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := offline("--public-key", keyText, "--checkpoint", early); res.code != 1 || !strings.Contains(res.stderr, "none of the 1 archived checkpoints falls within the bundle's chain") {
		t.Fatalf("verify-bundle with an archive from before: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	// A changed byte, in the signed payload or in the envelope around it.
	for _, at := range []int{len(data) / 2, 1, len(data) - 3} {
		bad := []byte(string(data))
		bad[at] ^= 0x01
		os.WriteFile(file, bad, 0o644)
		res := offline("--public-key", keyText)
		if res.code != 1 || !strings.Contains(res.stderr, "bundle rejected") || res.stdout != "" {
			t.Fatalf("byte %d changed: exit %d\n%s%s", at, res.code, res.stdout, res.stderr)
		}
	}
	os.WriteFile(file, data, 0o644)

	other := signerForTest(t, 42).PublicKey()
	res = offline("--public-key", other.String())
	if res.code != 1 || !strings.Contains(res.stderr, "signed by key "+key.ID()+", not by the given key "+other.ID()) {
		t.Fatalf("wrong key: exit %d\n%s", res.code, res.stderr)
	}
	s.fails("give the public key", "", "verify-bundle", file)
	s.fails("not an audit public key", "", "verify-bundle", file, "--public-key", "ed25519:nope")
	s.fails("give the file to write", "vic", "release", "bundle", id)
	s.fails("release 999 does not exist", "vic", "release", "bundle", "999", "-o", file)
}

func signerForTest(t *testing.T, b byte) *shipgate.AuditSigner {
	t.Helper()
	seed := make([]byte, shipgate.AuditSigningKeySize)
	seed[0] = b
	s, err := shipgate.NewAuditSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pinnedService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: production
      approvals: {required: 1, from_groups: [release-managers]}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo "deploying [$(cat "$SHIPGATE_ARTIFACT_PATH")]"
          - run: test "$SHIPGATE_INPUT_FAIL" != yes
`

// Finding 1 end to end: an artifact file replaced by a symlink to the
// server's secret key while its release waits for approval still deploys
// the bytes pinned at creation, and a rollback after the file and the
// runner's cache are gone deploys them again, from the server's store.
func TestArtifactPinnedEndToEnd(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "carol", "--role", "approver", "--group", "release-managers")
	s.tokens["carol"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "carol"))
	svc := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(svc, []byte(pinnedService), 0o644)
	s.ok("admin", "apply", "-f", svc)
	art := filepath.Join(s.workDir, "web-1.0.tar")
	os.WriteFile(art, []byte("web build 1.0"), 0o644)

	v1 := s.create("admin", "web", "--env", "production", "--version", "1.0", "--artifact", "web-1.0.tar")
	key := filepath.Join(s.dir, "data", "secret.key")
	secret, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(art)
	if err := os.Symlink(key, art); err != nil {
		t.Fatal(err)
	}
	s.ok("carol", "approve", fmt.Sprint(v1.ID))
	deployed := func(id int64) string {
		t.Helper()
		wait := s.run("admin", "release", "wait", fmt.Sprint(id))
		logs := s.ok("admin", "release", "logs", fmt.Sprint(id), "--job", "deploy")
		if strings.Contains(logs, strings.TrimSpace(string(secret))) {
			t.Fatalf("release %d deployed the server's secret key:\n%s", id, logs)
		}
		if wait.code != 0 {
			t.Fatalf("release %d did not succeed:\n%s%s\n%s", id, wait.stdout, wait.stderr, logs)
		}
		return logs
	}
	if logs := deployed(v1.ID); !strings.Contains(logs, "deploying [web build 1.0]") {
		t.Fatalf("v1 deployed something else:\n%s", logs)
	}

	// Years later: the file is gone, and so is the runner's cache.
	os.Remove(art)
	if err := os.RemoveAll(filepath.Join(s.dir, "data", "runner", "artifacts")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.workDir, "web-2.0.tar"), []byte("web build 2.0"), 0o644)
	v2 := s.create("admin", "web", "--env", "production", "--version", "2.0", "--artifact", "web-2.0.tar")
	s.ok("carol", "approve", fmt.Sprint(v2.ID))
	deployed(v2.ID)
	if out := s.ok("admin", "rollback", "web", "--env", "production"); !strings.Contains(out, "restores web 1.0") {
		t.Fatalf("rollback: %s", out)
	}
	var list []releaseJSON
	s.jsonOut(&list, "admin", "release", "list", "--limit", "1")
	if list[0].State == "pending_approval" {
		s.ok("carol", "approve", fmt.Sprint(list[0].ID))
	}
	if logs := deployed(list[0].ID); !strings.Contains(logs, "deploying [web build 1.0]") {
		t.Fatalf("the rollback deployed something else:\n%s", logs)
	}

	// gc: a failed release's artifact goes, what succeeded stays.
	os.WriteFile(filepath.Join(s.workDir, "web-3.0.tar"), []byte("web build 3.0"), 0o644)
	v3 := s.create("admin", "web", "--env", "production", "--version", "3.0", "--artifact", "web-3.0.tar", "--input", "fail=yes")
	s.ok("carol", "approve", fmt.Sprint(v3.ID))
	if wait := s.run("admin", "release", "wait", fmt.Sprint(v3.ID)); wait.code == 0 {
		t.Fatalf("v3 did not fail: %s", wait.stdout)
	}
	type stored struct {
		SHA256 string `json:"sha256"`
		Keep   bool   `json:"keep"`
		Why    string `json:"why"`
	}
	var gc struct {
		DryRun  bool     `json:"dry_run"`
		Removed []stored `json:"removed"`
		Kept    int      `json:"kept"`
	}
	s.fails("forbidden", "carol", "artifact", "gc", "--grace", "0s")
	s.jsonOut(&gc, "admin", "artifact", "gc", "--dry-run", "--grace", "0s")
	if !gc.DryRun || len(gc.Removed) != 1 || gc.Kept != 2 || !strings.Contains(gc.Removed[0].Why, fmt.Sprintf("%d failed", v3.ID)) {
		t.Fatalf("gc --dry-run: %+v", gc)
	}
	if r := s.run("admin", "artifact", "gc", "--grace", "0s"); r.code != 0 || !strings.Contains(r.stdout, "removed 1 artifact (") ||
		!strings.Contains(r.stderr, "warning: --grace 0s is shorter than the 10m0s") {
		t.Fatalf("gc with no grace: exit %d, stdout %q, stderr %q; want one removal and a warning", r.code, r.stdout, r.stderr)
	}
	if out := s.ok("admin", "artifact", "gc", "--grace", "1d"); !strings.Contains(out, "removed 0 artifacts") {
		t.Fatalf("gc --grace 1d:\n%s", out)
	}
	var listed []stored
	s.jsonOut(&listed, "carol", "artifact", "list")
	if len(listed) != 2 || !listed[0].Keep || !listed[1].Keep {
		t.Fatalf("artifact list after gc: %+v", listed)
	}
	if out := s.ok("carol", "artifact", "list"); !strings.Contains(out, "keeps: release") {
		t.Fatalf("artifact list:\n%s", out)
	}
	if out := s.ok("admin", "audit", "list"); !strings.Contains(out, "artifacts.collected") {
		t.Fatalf("gc not audited:\n%s", out)
	}
}

// The files the server reads as configuration or secrets are not
// artifacts, even where they lie under the artifact root (by default, the
// directory the server starts in): a deployer cannot pin the --config file
// or the audit key and have a job print them. The refusals are 403s, in the
// audit log, and the operator is warned at start that the root holds them.
// Under --artifact-root /, the server's environment (/proc/self/environ,
// with SHIPGATE_SECRET_KEY) is refused too.
func TestServerFilesAreNotArtifacts(t *testing.T) {
	cfg := "notifications:\n  sinks:\n    - name: chat\n      type: slack\n      url: https://hooks.slack.com/services/T000/B000/SECRETSECRET\n"
	s := &server{t: t, dir: t.TempDir(), tokens: map[string]string{}, workDir: t.TempDir()}
	os.WriteFile(filepath.Join(s.workDir, "server.yaml"), []byte(cfg), 0o600)
	os.MkdirAll(filepath.Join(s.workDir, "keys"), 0o700)
	auditKey := filepath.Join(s.workDir, "keys", "audit.key")
	s.args = []string{"--no-local-runner", "--config", "server.yaml", "--audit-key-file", auditKey}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr.String())
		}
	})
	s.start()
	s.tokens["admin"] = s.admin
	s.ok("admin", "user", "create", "carol", "--role", "deployer")
	s.tokens["carol"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "carol"))
	svc := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(svc, []byte(egressService), 0o644)
	s.ok("admin", "apply", "-f", svc)
	os.WriteFile(filepath.Join(s.workDir, "shop-1.tar"), []byte("shop build 1"), 0o644)

	// A hard link under the root to the secret key in the data directory
	// (the data directory is refused by path; its keys by identity too).
	keyLink := filepath.Join(s.workDir, "key-link")
	if err := os.Link(filepath.Join(s.dir, "data", "secret.key"), keyLink); err != nil {
		t.Fatal(err)
	}
	for _, art := range []string{"server.yaml", auditKey, keyLink} {
		r := s.fails("forbidden", "carol", "release", "create", "shop", "--env", "staging", "--version", "1", "--artifact", art)
		if !strings.Contains(r.stderr, "server's own files") {
			t.Fatalf("--artifact %s: %s", art, r.stderr)
		}
	}
	s.create("carol", "shop", "--env", "staging", "--version", "1", "--artifact", "shop-1.tar") // the root itself still works
	s.mu.Lock()
	log := s.stderr.String()
	s.mu.Unlock()
	for _, f := range []string{filepath.Join(s.workDir, "server.yaml"), auditKey} {
		if !strings.Contains(log, "artifact root") || !strings.Contains(log, f) {
			t.Fatalf("no warning at start that the artifact root holds %s:\n%s", f, log)
		}
	}

	// The refusals are audited as carol's: the first at once, the others
	// counted and written when its window ends, here when the server stops.
	s.stop()
	s.start()
	refused := s.refusals("carol", "server's own files")
	if refused != 3 {
		t.Fatalf("%d refusals of carol's server files audited, want 3", refused)
	}

	const secretKey = "5eC12e7000000000000000000000000000000000000000000000000000000001"
	wide := startServerWith(t, []string{"--no-local-runner", "--artifact-root", "/"}, "SHIPGATE_SECRET_KEY="+secretKey)
	wide.ok("admin", "apply", "-f", svc)
	r := wide.fails("forbidden", "admin", "release", "create", "shop", "--env", "staging", "--version", "1", "--artifact", "/proc/self/environ")
	if strings.Contains(r.stderr, secretKey) || strings.Contains(r.stdout, secretKey) {
		t.Fatalf("the refusal shows the secret key: %s", r.stderr)
	}
}

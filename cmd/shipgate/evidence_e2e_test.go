package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/evidence/sigtest"
	"github.com/shipgate/shipgate/internal/testutil"
)

const evidenceService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments:
    - name: staging
  pipeline:
    jobs:
      - name: test
        steps:
          - run: |
              if [ "$SHIPGATE_INPUT_REPORT" = broken ]; then
                printf '<testsuite>\n<testcase name="a">\n</testsuite>\n' > junit.xml
              else
                printf '<testsuite><testcase name="a"/><testcase name="b"><skipped/></testcase></testsuite>\n' > junit.xml
              fi
              mkdir -p out
              printf 'mode: set\nshop/cart.go:1.1,2.2 17 1\nshop/cart.go:3.1,4.2 3 0\n' > out/cover.out
            evidence:
              - {type: coverage, path: out/cover.out}
              - {type: tests, path: junit.xml, name: unit tests}
`

type evidenceJSON struct {
	ID      int64          `json:"id"`
	Type    string         `json:"type"`
	Name    string         `json:"name"`
	SHA256  string         `json:"sha256"`
	Job     string         `json:"job"`
	AddedBy string         `json:"added_by"`
	Summary map[string]any `json:"summary"`
}

// TestEvidenceCLI: evidence attached with the CLI is parsed, stored once,
// listed, shown in release show and audited; a malformed file and a
// Sigstore bundle for another digest are refused with nothing stored.
func TestEvidenceCLI(t *testing.T) {
	signer, err := sigtest.New()
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := signer.PublicKeyPEM()
	s := &server{t: t, dir: t.TempDir(), tokens: map[string]string{}, workDir: t.TempDir(), args: []string{"--no-local-runner", "--config", "server.yaml"}}
	os.WriteFile(filepath.Join(s.workDir, "cosign.pub"), pem, 0o644)
	os.WriteFile(filepath.Join(s.workDir, "server.yaml"), []byte("evidence:\n  signature:\n    public_key: cosign.pub\n"), 0o644)
	t.Cleanup(func() {
		s.stop()
		s.front.close()
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr.String())
		}
	})
	s.start()
	s.tokens["admin"] = s.admin

	write := func(name, content string) {
		os.WriteFile(filepath.Join(s.workDir, name), []byte(content), 0o644)
	}
	write("shop.yaml", evidenceService)
	s.ok("admin", "apply", "-f", "shop.yaml")
	artifact := []byte("shop build 1.0")
	write("shop-1.0.tar", string(artifact))
	r := s.create("admin", "shop", "--env", "staging", "--version", "1.0", "--artifact", "shop-1.0.tar")
	id := fmt.Sprint(r.ID)
	digest := sha256.Sum256(artifact)
	hexDigest := hex.EncodeToString(digest[:])

	write("cover.out", "mode: set\nshop/cart.go:1.1,2.2 15 1\nshop/cart.go:3.1,4.2 5 0\n")
	out := s.ok("admin", "evidence", "add", id, "--type", "coverage", "--file", "cover.out")
	if !strings.Contains(out, "attached evidence 1 to release "+id+": coverage cover.out sha256:") || !strings.Contains(out, "line coverage 75% (go)") {
		t.Errorf("add coverage:\n%s", out)
	}
	if out := s.ok("admin", "evidence", "add", id, "--type", "coverage", "--file", "cover.out", "--name", "again"); !strings.Contains(out, "already has these bytes as coverage: evidence 1 (cover.out), nothing added") {
		t.Errorf("the same bytes again:\n%s", out)
	}

	write("junit.xml", "<testsuites>\n<testsuite name=\"cart\">\n<testcase name=\"a\">\n</testsuite>\n</testsuites>\n")
	res := s.fails("junit.xml is not a valid tests file: line 4: element <testcase> closed by </testsuite>", "admin", "evidence", "add", id, "--type", "tests", "--file", "junit.xml")
	if res.code != 1 {
		t.Errorf("malformed file: exit %d", res.code)
	}

	// A Sigstore bundle, signed offline with the configured key, for
	// another build: refused. For the release's artifact: verified.
	other, _ := signer.Bundle([]byte("shop build 0.9"))
	write("other.sigstore.json", string(other))
	s.fails("signature other.sigstore.json does not verify for the release's artifact sha256:"+hexDigest, "admin", "evidence", "add", id, "--type", "signature", "--file", "other.sigstore.json")
	good, _ := signer.Bundle(artifact)
	write("shop.sigstore.json", string(good))
	if out := s.ok("admin", "evidence", "add", id, "--type", "signature", "--file", "shop.sigstore.json"); !strings.Contains(out, "verified for sha256:"+hexDigest+" with key sha256:") {
		t.Errorf("add signature:\n%s", out)
	}
	s.fails(`link URL "file:///etc/passwd" must be an absolute http or https URL`, "admin", "evidence", "add", id, "--type", "link", "--url", "file:///etc/passwd", "--title", "x")
	s.ok("admin", "evidence", "add", id, "--type", "link", "--url", "https://tickets.example.com/CHG-12", "--title", "Change CHG-12")
	s.fails(`unknown evidence type "coverge"`, "admin", "evidence", "add", id, "--type", "coverge", "--file", "cover.out")
	s.fails("give the evidence type: --type sbom|signature|coverage|scan|tests|link|file", "admin", "evidence", "add", id, "--file", "cover.out")

	var list []evidenceJSON
	s.jsonOut(&list, "admin", "evidence", "list", id)
	var types []string
	for _, e := range list {
		types = append(types, e.Type+":"+e.Name)
	}
	if strings.Join(types, " ") != "coverage:cover.out signature:shop.sigstore.json link:Change CHG-12" {
		t.Fatalf("evidence list: %v (the refused files must not be stored)", types)
	}
	if list[1].Summary["subject_sha256"] != hexDigest || list[1].Summary["verified"] != true {
		t.Errorf("signature summary %v", list[1].Summary)
	}

	show := s.ok("admin", "release", "show", id)
	_, section, _ := strings.Cut(show, "\nevidence:\n")
	if !strings.Contains(section, "cover.out") || !strings.Contains(section, "line coverage 75% (go)") || !strings.Contains(section, "https://tickets.example.com/CHG-12") {
		t.Errorf("release show has no evidence section:\n%s", show)
	}
	if out := s.ok("admin", "evidence", "show", "1"); !strings.Contains(out, "evidence 1 of release "+id+": coverage cover.out") || !strings.Contains(out, "sha256:    "+list[0].SHA256) || !strings.Contains(out, "    lines_total: 20\n") {
		t.Errorf("evidence show:\n%s", out)
	}
	s.ok("admin", "evidence", "download", "1", "--to", "downloaded.out")
	if b, _ := os.ReadFile(filepath.Join(s.workDir, "downloaded.out")); string(b) != "mode: set\nshop/cart.go:1.1,2.2 15 1\nshop/cart.go:3.1,4.2 5 0\n" {
		t.Errorf("download: %q", b)
	}
	s.fails("evidence 99 not found", "admin", "evidence", "show", "99")

	added := 0
	for _, e := range s.show(r.ID).Timeline {
		if e.Action == "evidence.added" {
			added++
		}
	}
	if added != 3 {
		t.Errorf("%d evidence.added events; want 3 (the repeat and the refusals add none)", added)
	}
	s.ok("admin", "audit", "verify")
}

// TestStepEvidenceFromAgent: a step that writes a coverage file and a
// JUnit report it declares as evidence gets them attached to the release
// by its agent; a malformed report fails the job with the parser's
// message.
func TestStepEvidenceFromAgent(t *testing.T) {
	s := startServerWith(t, []string{"--no-local-runner"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "ci"))
	s.startAgent("ci-1", "role=ci", join)
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(evidenceService), 0o644)
	os.WriteFile(filepath.Join(s.workDir, "shop.tar"), []byte("shop"), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")

	r := s.create("admin", "shop", "--env", "staging", "--version", "1.0", "--artifact", "shop.tar")
	if out := s.ok("admin", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("wait: %s", out)
	}
	var list []evidenceJSON
	s.jsonOut(&list, "admin", "evidence", "list", fmt.Sprint(r.ID))
	if len(list) != 2 || list[0].Type != "coverage" || list[0].Name != "cover.out" || list[0].Job != "test" || list[0].AddedBy != "agent/ci-1" ||
		list[0].Summary["line_percent"] != 85.0 || list[1].Name != "unit tests" || list[1].Summary["passed"] != 1.0 || list[1].Summary["skipped"] != 1.0 {
		t.Fatalf("evidence from the step: %+v", list)
	}
	if logs := s.ok("admin", "release", "logs", fmt.Sprint(r.ID)); !strings.Contains(logs, "evidence out/cover.out attached as 1 (coverage") {
		t.Errorf("the job's log does not say what was attached:\n%s", logs)
	}

	bad := s.create("admin", "shop", "--env", "staging", "--version", "1.1", "--artifact", "shop.tar", "--input", "report=broken")
	wait := s.run("admin", "release", "wait", fmt.Sprint(bad.ID))
	if wait.code == 0 {
		t.Fatalf("a malformed report: the release %s", wait.stdout)
	}
	testutil.WaitFor(t, "the failed release's log", func() bool {
		return strings.Contains(s.ok("admin", "release", "logs", fmt.Sprint(bad.ID)), "evidence junit.xml (tests) refused: unit tests is not a valid tests file: line 3: element <testcase> closed by </testsuite>")
	})
	s.jsonOut(&list, "admin", "evidence", "list", fmt.Sprint(bad.ID))
	for _, e := range list {
		if e.Type == "tests" {
			t.Errorf("the malformed report was stored: %+v", e)
		}
	}
}

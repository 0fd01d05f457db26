package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// audit export and audit list --release N of a release that does not
// exist say so on stderr and exit non-zero, instead of printing nothing
// and succeeding (issue 12 leftover); of a release that exists they print
// its events.
func TestAuditReleaseFilterOfNoRelease(t *testing.T) {
	s := startServer(t)
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(`apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs: [{name: deploy, steps: [{run: "true"}]}]
`), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
	r := s.create("admin", "web", "--env", "staging", "--version", "1.0", "--artifact", "a.tar")

	for _, args := range [][]string{{"audit", "export"}, {"audit", "list"}, {"audit", "list", "-o", "json"}} {
		res := s.fails("release 999 does not exist", "admin", append(args, "--release", "999")...)
		if res.stdout != "" && res.stdout != "[]\n" {
			t.Errorf("%v --release 999 printed %q", args, res.stdout)
		}
	}
	out := s.ok("admin", "audit", "export", "--release", fmt.Sprint(r.ID))
	if !strings.Contains(out, `"action":"release.created"`) {
		t.Fatalf("audit export --release %d:\n%s", r.ID, out)
	}
}

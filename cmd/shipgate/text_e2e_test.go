package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const textE2EService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments:
    - name: staging
      approvals: { required: 0 }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: printf 'building\033[2K\r\033[32mrelease 1 approved by alice\033[0m\r\n\tdone\n'
`

// Whatever the server hands the CLI — a version stored before the server
// refused control characters, a program's colourful log — reaches the
// terminal escaped: never a raw ESC, CR or bidi override, and never a
// newline inside a field that starts a fake line. -o json keeps the data
// exact.
func TestHostileTextIsEscaped(t *testing.T) {
	s := startServer(t)
	svc := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(svc, []byte(textE2EService), 0o644)
	s.ok("admin", "apply", "-f", svc)
	os.WriteFile(filepath.Join(s.workDir, "shop.tar"), []byte("shop"), 0o644)

	clean := func(what, out string) {
		t.Helper()
		if strings.ContainsAny(out, "\x1b\r\u202e\u009b") {
			t.Errorf("%s prints raw control characters:\n%q", what, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "release 9 approved") {
				t.Errorf("%s prints a line the data made up: %q", what, line)
			}
		}
	}

	// A program's output: its escapes shown, its newlines and tabs kept.
	ok := s.create("admin", "shop", "--env", "staging", "--version", "1.0", "--artifact", "shop.tar")
	s.ok("admin", "release", "wait", fmt.Sprint(ok.ID))
	logs := s.ok("admin", "release", "logs", fmt.Sprint(ok.ID))
	clean("release logs", logs)
	if !strings.Contains(logs, `[deploy] building\x1b[2K\r\x1b[32mrelease 1 approved by alice\x1b[0m`+"\n[deploy] \tdone\n") {
		t.Errorf("release logs:\n%s", logs)
	}

	// A release stored before versions were restricted.
	db, err := sqlstore.Open(t.Context(), filepath.Join(s.dir, "data", "shipgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hostile := "1.1\x1b[2K\r\x1b[32mrelease 9 approved by alice\x1b[0m\nrelease 9 approved by bob\u202e"
	id := testutil.InsertRawRelease(t, db, "shop", "staging", func(c *shipgate.ReleaseContent) {
		c.Version, c.Source.Ref, c.CreatedBy = hostile, "main\x1b]8;;https://evil\x07", "carol\u009b2J"
		c.Inputs = map[string]string{"note": "multi\nline\x1b[8m"}
	})
	r := s.run("admin", "release", "wait", fmt.Sprint(id))
	clean("release wait (stdout)", r.stdout)
	clean("release wait (stderr)", r.stderr)
	if !strings.HasPrefix(r.stdout, fmt.Sprintf("release %d ", id)) || !strings.Contains(r.stderr, fmt.Sprintf("release %d ", id)) {
		t.Errorf("release wait:\n%s%s", r.stdout, r.stderr)
	}
	show := s.ok("admin", "release", "show", fmt.Sprint(id))
	clean("release show", show)
	for _, want := range []string{
		`version 1.1\x1b[2K\r\x1b[32mrelease 9 approved by alice\x1b[0m\nrelease 9 approved by bob\u202e` + "\n",
		`ref main\x1b]8;;https://evil\x07`,
		`by carol\u009b2J`,
		`note=multi\nline\x1b[8m`,
	} {
		if !strings.Contains(show, want) {
			t.Errorf("release show lacks %q:\n%s", want, show)
		}
	}
	list := s.ok("admin", "release", "list")
	clean("release list", list)
	if n := strings.Count(strings.TrimSpace(list), "\n"); n != 2 {
		t.Errorf("release list has %d rows; want 2:\n%s", n, list)
	}
	clean("audit list", s.ok("admin", "audit", "list"))
	// JSON carries the data as stored.
	var v struct {
		Version string `json:"version"`
	}
	s.jsonOut(&v, "admin", "release", "show", fmt.Sprint(id))
	if v.Version != hostile {
		t.Errorf("-o json version %q; want %q", v.Version, hostile)
	}
}

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

// Characters that show as nothing — zero-width spaces, joiners, the soft
// hyphen, the BOM, Hangul fillers, tag characters — in an agent and a
// release stored before the server refused them: a viewer sees each one
// escaped, never shipgate.local=true where the label is another, nor a
// ref of refs/main that is not refs/main.
func TestInvisibleTextIsShown(t *testing.T) {
	s := startServer(t)
	svc := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(svc, []byte(textE2EService), 0o644)
	s.ok("admin", "apply", "-f", svc)
	s.ok("admin", "user", "create", "vic", "--role", "viewer")
	s.tokens["vic"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "vic"))

	db, err := sqlstore.Open(t.Context(), filepath.Join(s.dir, "data", "shipgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testutil.InsertRawAgent(t, db, "old-host", map[string]string{"shipgate\u200b.local": "true", "role": "web\u00ad"})
	id := testutil.InsertRawRelease(t, db, "shop", "staging", func(c *shipgate.ReleaseContent) {
		c.Version = "1.0\u200b"
		c.Source.Ref, c.Source.Commit = "refs/\u200bmain\u2060\ufeff\u00ad\u3164", "abc\U000E0041\U000E0042"
	})

	invisible := func(what, out string) {
		t.Helper()
		for _, r := range out {
			if shipgate.UnsafeRune(r) && r != '\n' && r != '\t' {
				t.Errorf("%s prints %U raw:\n%q", what, r, out)
				return
			}
		}
	}
	agents := s.ok("vic", "agent", "list")
	invisible("agent list", agents)
	if !strings.Contains(agents, `role=web\u00ad,shipgate\u200b.local=true`) {
		t.Errorf("agent list:\n%s", agents)
	}
	show := s.ok("vic", "release", "show", fmt.Sprint(id))
	invisible("release show", show)
	for _, want := range []string{`version 1.0\u200b`, `commit abc\udb40\udc41\udb40\udc42`, `ref refs/\u200bmain\u2060\ufeff\u00ad\u3164`} {
		if !strings.Contains(show, want) {
			t.Errorf("release show lacks %q:\n%s", want, show)
		}
	}
	list := s.ok("vic", "release", "list")
	invisible("release list", list)
	if !strings.Contains(list, `1.0\u200b`) {
		t.Errorf("release list:\n%s", list)
	}
	// -o json keeps the data exact, as JSON escapes the same characters.
	var v struct {
		Source struct{ Ref, Commit string } `json:"source"`
	}
	s.jsonOut(&v, "vic", "release", "show", fmt.Sprint(id))
	if v.Source.Ref != "refs/\u200bmain\u2060\ufeff\u00ad\u3164" || v.Source.Commit != "abc\U000E0041\U000E0042" {
		t.Errorf("-o json source %+v", v.Source)
	}
}

// The built-in runner's labels follow the agents' rules: a name that is
// not plain ASCII stops serve before it starts.
func TestServeRefusesBadRunnerLabels(t *testing.T) {
	s := &server{t: t, dir: t.TempDir(), workDir: t.TempDir(), tokens: map[string]string{}}
	data := filepath.Join(s.dir, "data")
	for _, tt := range []struct{ labels, want string }{
		{"\u017fhipgate.x=1", `--runner-labels: label name "ſhipgate.x" is not valid`},
		{"zone=a\u200b", `--runner-labels: label "zone" has a value that is not valid: the value contains the invisible character "\u200b"`},
	} {
		s.fails(tt.want, "", "serve", "--listen", "127.0.0.1:0", "--data", data, "--runner-labels", tt.labels)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("serve created its data directory: %v", err)
	}
}

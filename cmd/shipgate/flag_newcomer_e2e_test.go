package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Findings of a newcomer who followed docs/flags.md, each held here.

// `flag key create` prints the key alone on stdout, as `token create`
// does, so KEY=$(shipgate flag key create --env E) holds the key and
// nothing else; what to do with it goes to stderr. With the explanation
// on stdout the variable held three lines, and a curl with
// "Authorization: Bearer $KEY" sent a broken request.
func TestFlagKeyCreatePrintsOnlyTheKey(t *testing.T) {
	s := startServer(t)
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(ofrepService), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")
	r := s.run("admin", "flag", "key", "create", "--env", "staging", "--name", "checkout backend")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	key := strings.TrimSuffix(r.stdout, "\n")
	if !strings.HasPrefix(key, "sgf_") || strings.ContainsAny(key, " \n") {
		t.Fatalf("stdout %q; want the key alone on one line", r.stdout)
	}
	if !strings.Contains(r.stderr, "shown only this once") {
		t.Fatalf("stderr %q; want what to do with the key", r.stderr)
	}
}

// The CLI names a flag's state with the words of the web UI and the docs
// (docs/ui.md): "killed" only for a kill, "off" for a planned disable or a
// flag the file declares disabled. The CLI called every disabled flag
// "killed" — a planned `flag disable` too, which docs/flags.md sets apart
// from a kill — while the UI said "off" for the same flag.
func TestFlagStateWordsMatchTheUI(t *testing.T) {
	s := startServer(t)
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(ofrepService), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")
	s.ok("admin", "flag", "disable", "shop", "theme", "--env", "staging", "--reason", "planned: the dark theme is not ready")
	s.ok("admin", "flag", "kill", "shop", "new-checkout", "--env", "staging", "--reason", "INC-42")
	list := s.ok("admin", "flag", "list", "shop", "--env", "staging")
	line := func(key string) string {
		for _, l := range strings.Split(list, "\n") {
			if strings.Contains(l, " "+key+" ") {
				return l
			}
		}
		t.Fatalf("flag list has no %s:\n%s", key, list)
		return ""
	}
	if l := line("theme"); !strings.Contains(l, "off: serves light") || strings.Contains(l, "killed") {
		t.Fatalf("a disabled flag in the list: %q; want off: serves light", l)
	}
	if l := line("new-checkout"); !strings.Contains(l, "killed: serves off") {
		t.Fatalf("a killed flag in the list: %q", l)
	}
	if l := line("banner"); !strings.Contains(l, "rollout 30% plain, 70% fancy") {
		t.Fatalf("a rolled-out flag in the list: %q", l)
	}
	if show := s.ok("admin", "flag", "show", "shop", "theme", "--env", "staging"); !strings.Contains(show, "off: serves light to everyone") || strings.Contains(show, "killed") {
		t.Fatalf("flag show of a disabled flag:\n%s", show)
	}
	if show := s.ok("admin", "flag", "show", "shop", "new-checkout", "--env", "staging"); !strings.Contains(show, "killed: serves off to everyone") {
		t.Fatalf("flag show of a killed flag:\n%s", show)
	}
}

// flag show writes a regex as written in the service file, not as a JSON
// string: `email regex "@example\\.com$"` doubled the backslash, and the
// rule copied back into a file matched a literal backslash.
func TestFlagShowWritesARegexAsWritten(t *testing.T) {
	s := startServer(t)
	svc := strings.Replace(ofrepService, "when: [{ attribute: country, op: equals, value: NZ }]",
		`when: [{ attribute: email, op: regex, value: '@example\.com$' }]`, 1)
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(svc), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")
	show := s.ok("admin", "flag", "show", "shop", "new-checkout", "--env", "staging")
	if !strings.Contains(show, `if email regex /@example\.com$/: serve off`) {
		t.Fatalf("flag show:\n%s", show)
	}
}

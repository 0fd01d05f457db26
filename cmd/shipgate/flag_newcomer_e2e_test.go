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

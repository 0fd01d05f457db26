package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two servers on one host and one PostgreSQL database have built-in
// runners of different names; alone on SQLite the name is local@HOST
// (newcomer review: jobs of both servers showed local@vm, and a restarted
// runner would settle the other's attempts). A name, once given, is kept
// across restarts and moves of the data directory, and a data directory
// whose runner ran before names were kept keeps local@HOST (second hostile
// review: a renamed runner dropped the work it had in flight).
func TestLocalRunnerName(t *testing.T) {
	dir := t.TempDir()
	name := func(data string, shared bool) string {
		t.Helper()
		n, err := localRunnerName("vm", filepath.Join(dir, data), shared)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	os.MkdirAll(filepath.Join(dir, "sqlite"), 0o700)
	if got := name("sqlite", false); got != "local@vm" {
		t.Fatalf("SQLite: %q", got)
	}
	for _, d := range []string{"a", "b", "old"} {
		os.MkdirAll(filepath.Join(dir, d), 0o700)
	}
	os.MkdirAll(filepath.Join(dir, "old", "runner"), 0o700) // ran before names were kept
	a, b := name("a", true), name("b", true)
	if a == b || !strings.HasPrefix(a, "local@vm/") || len(a) != len("local@vm/")+8 {
		t.Fatalf("shared database: %q and %q", a, b)
	}
	if got := name("old", true); got != "local@vm" {
		t.Fatalf("a data directory whose runner ran before: %q", got)
	}
	if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if got := name("moved", true); got != a {
		t.Fatalf("a moved data directory: %q, was %q", got, a)
	}
}

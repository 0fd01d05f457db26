package main

import (
	"strings"
	"testing"
)

// Two servers on one host and one PostgreSQL database have built-in
// runners of different names, stable across restarts; alone on SQLite the
// name stays local@HOST (newcomer review: jobs of both servers showed
// local@vm, and a restarted runner would settle the other's attempts).
func TestLocalRunnerName(t *testing.T) {
	if got := localRunnerName("vm", "/srv/a", false); got != "local@vm" {
		t.Fatalf("SQLite: %q", got)
	}
	a, b := localRunnerName("vm", "/srv/a", true), localRunnerName("vm", "/srv/b", true)
	if a == b || !strings.HasPrefix(a, "local@vm/") || len(a) != len("local@vm/")+8 {
		t.Fatalf("shared database: %q and %q", a, b)
	}
	if again := localRunnerName("vm", "/srv/a/../a", true); again != a {
		t.Fatalf("the same data directory named twice: %q and %q", a, again)
	}
}

package promtest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Promtool is where Debian's prometheus package installs promtool, the
// Prometheus project's own checker of the text exposition format.
const Promtool = "/usr/bin/promtool"

// CheckMetrics runs `promtool check metrics` on an exposition (what a
// /metrics endpoint served) and fails t with promtool's report on any
// parse error or lint problem: a counter not ending in _total, a missing
// HELP, an abbreviated or non-base unit, and the like.
//
// Without promtool the test is skipped — unless CI=true, where a missing
// checker must not pass silently, and the test fails.
func CheckMetrics(t testing.TB, exposition []byte) {
	t.Helper()
	if _, err := os.Stat(Promtool); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install prometheus): %v", Promtool, err)
		}
		t.Skipf("%s is missing (apt-get install prometheus)", Promtool)
	}
	cmd := exec.Command(Promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s\nexposition:\n%s", err, strings.TrimSpace(string(out)), exposition)
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A scenario name used twice is reported at the line of the second file's
// name: key, naming the file that used it first and that file's line; a
// name that comes from the file name is reported at line 1, saying so.
func TestLoadScenariosDuplicateNameLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "expect: promote\n")
	write("b.yaml", "# the same as a\ndescription: again\nexpect: promote\nname: a\n")
	_, err := LoadScenarios(dir)
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	if want := b + `:4: scenario name "a" is also used by ` + a + " (its file name)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("duplicate name:\n  %v\nwant\n  %s", err, want)
	}
	os.Remove(a)
	write("c.yaml", "expect: rollback\ncanary: {error_rate: 2%}\n")
	write("b.yaml", "# named like c\nname: c\nexpect: promote\n")
	_, err = LoadScenarios(dir)
	c := filepath.Join(dir, "c.yaml")
	if want := c + `:1: scenario name "c" (from the file name) is also used by ` + b + ":2"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("duplicate of a file name:\n  %v\nwant\n  %s", err, want)
	}
}

// A bad at: in a ramp or steps list is reported once, as what it is: not
// also as a point out of time order, for itself or the point after it.
func TestScenarioBadAtIsTheOnlyProblem(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"middle", "expect: rollback\ncanary:\n  error_rate:\n    ramp:\n      - {at: 0s, value: 1%}\n      - {at: soon, value: 2%}\n      - {at: 5m, value: 3%}\n", "x.yaml:6: at:"},
		{"first", "expect: rollback\ncanary:\n  error_rate:\n    steps:\n      - {at: soon, value: 1%}\n      - {at: 0s, value: 2%}\n", "x.yaml:5: at:"},
		{"weight", "expect: promote\ncanary_weight:\n  steps:\n    - {at: 0s, value: 5%}\n    - {at: [1m], value: 25%}\n", "x.yaml:5: at must be"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseScenario("x.yaml", []byte(c.src))
			if err == nil {
				t.Fatal("parsed")
			}
			e, ok := err.(*Error)
			if !ok || len(e.Problems) != 1 || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("problems:\n  %v\nwant exactly one, containing %q", err, c.want)
			}
		})
	}
	// A real disorder next to a bad point is still reported.
	_, err := ParseScenario("x.yaml", []byte("expect: rollback\ncanary:\n  error_rate:\n    ramp:\n      - {at: 5m, value: 1%}\n      - {at: soon, value: 2%}\n      - {at: 1m, value: 3%}\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:6: at:") || !strings.Contains(err.Error(), "x.yaml:7: canary error_rate points must be in increasing time order") {
		t.Fatalf("disorder after a bad point: %v", err)
	}
}

package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/policy"
)

// TestRunTestsLikeTheGate: policy test evaluates as the gate does. A
// builtin error is an error there (the gate fails closed), so a unit test
// that expects "no deny" from a policy whose builtin errors must not pass
// locally while the same input blocks every release on the server.
func TestRunTestsLikeTheGate(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "num.rego"), []byte("package shipgate.num\n\ndeny contains msg if {\n\tto_number(input.release.inputs.n) > 10\n\tmsg := \"too big\"\n}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "num_test.rego"), []byte("package shipgate.num_test\n\nimport data.shipgate.num\n\ntest_garbage_allowed if {\n\tcount(num.deny) == 0 with input as {\"release\": {\"inputs\": {\"n\": \"abc\"}}}\n}\n"), 0o644)
	var out strings.Builder
	sum, err := policy.RunTests(ctx, &out, dir)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Passed != 0 || sum.Errors != 1 || !strings.Contains(out.String(), "to_number") {
		t.Fatalf("a builtin error passed the test (the gate would block): %+v\n%s", sum, out.String())
	}
}

// TestRunTestsMissingPath: a path that does not exist is said to be
// missing, not "does not compile".
func TestRunTestsMissingPath(t *testing.T) {
	_, err := policy.RunTests(ctx, &strings.Builder{}, filepath.Join(t.TempDir(), "nope"))
	if err == nil || strings.Contains(err.Error(), "compile") || !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("missing path: %v", err)
	}
}

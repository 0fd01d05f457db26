package policy

import (
	"context"
	"fmt"
	"io"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestSummary counts the Rego unit tests of a run.
type TestSummary struct {
	Passed, Failed, Errors, Skipped int
}

// RunTests runs the Rego unit tests (rules named test_*) in the files
// under paths, writing a line per test to w.
func RunTests(ctx context.Context, w io.Writer, paths ...string) (TestSummary, error) {
	var sum TestSummary
	results, err := tester.Run(ctx, paths...)
	if err != nil {
		return sum, &CompileError{Problems: problems(err)}
	}
	for _, r := range results {
		name := r.Package + "." + r.Name
		switch {
		case r.Error != nil:
			sum.Errors++
			fmt.Fprintf(w, "ERROR %s: %v\n", name, r.Error)
		case r.Skip:
			sum.Skipped++
			fmt.Fprintf(w, "SKIP  %s\n", name)
		case r.Fail:
			sum.Failed++
			loc := ""
			if r.Location != nil {
				loc = fmt.Sprintf(" (%s:%d)", r.Location.File, r.Location.Row)
			}
			fmt.Fprintf(w, "FAIL  %s%s\n", name, loc)
		default:
			sum.Passed++
			fmt.Fprintf(w, "PASS  %s\n", name)
		}
	}
	return sum, nil
}

package policy

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util/channel"
	"github.com/shipgate/shipgate"
)

// TestSummary counts the Rego unit tests of a run.
type TestSummary struct {
	Passed, Failed, Errors, Skipped int
}

// RunTests runs the Rego unit tests (rules named test_*) in the files
// under paths, writing a line per test to w. Builtin errors are errors,
// as at the gates (which fail closed on them): a test that expects no
// deny from a policy whose builtin errors does not pass here while the
// same input blocks on the server.
func RunTests(ctx context.Context, w io.Writer, paths ...string) (TestSummary, error) {
	var sum TestSummary
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			if pe, ok := err.(*os.PathError); ok {
				err = pe.Err
			}
			return sum, shipgate.Errorf(shipgate.EINVALID, "cannot read %s: %v", p, err)
		}
	}
	modules, store, err := tester.Load(paths, nil)
	if err != nil {
		return sum, &CompileError{Problems: problems(err)}
	}
	ch, err := tester.NewRunner().SetStore(store).RaiseBuiltinErrors(true).Run(ctx, modules)
	if err != nil {
		return sum, &CompileError{Problems: problems(err)}
	}
	results := channel.Collect(ch)
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

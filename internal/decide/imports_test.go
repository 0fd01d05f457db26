package decide_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// rootPackage is the one non-standard import the decider may have: the
// domain it decides about.
const rootPackage = "github.com/shipgate/shipgate"

// The decider is pure by its import graph, not by convention: its
// non-test files import only the standard library and the root package,
// so no store, no HTTP, no clock of its own can creep in.
func TestImportsOnlyRootAndStdlib(t *testing.T) {
	for _, f := range testutil.PackageSource(t) {
		for _, imp := range f.Imports {
			if !allowedImport(imp.Path) {
				t.Errorf("%s imports %q: package decide may import only the standard library and %s (it must stay pure; I/O belongs in internal/reconcile)",
					imp.Pos, imp.Path, rootPackage)
			}
		}
	}
}

// allowedImport reports whether path is a standard-library package (no
// dot in its first element) or exactly the root package.
func allowedImport(path string) bool {
	if path == rootPackage {
		return true
	}
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestAllowedImport(t *testing.T) {
	for path, want := range map[string]bool{
		"fmt": true, "encoding/json": true, rootPackage: true,
		rootPackage + "/internal/sqlstore": false, "github.com/shipgate/shipgate/client": false,
		"golang.org/x/exp/slices": false, "modernc.org/sqlite": false,
	} {
		if got := allowedImport(path); got != want {
			t.Errorf("allowedImport(%q) = %v, want %v", path, got, want)
		}
	}
}

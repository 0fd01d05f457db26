package decide

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rootPackage is the one non-standard import the decider may have: the
// domain it decides about.
const rootPackage = "github.com/shipgate/shipgate"

// The decider is pure by its import graph, not by convention: its
// non-test files import only the standard library and the root package,
// so no store, no HTTP, no clock of its own can creep in.
func TestImportsOnlyRootAndStdlib(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !allowedImport(path) {
				t.Errorf("%s imports %q: package decide may import only the standard library and %s (it must stay pure; I/O belongs in internal/reconcile)",
					fset.Position(imp.Pos()), path, rootPackage)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no non-test Go files found: the test is not looking at package decide")
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

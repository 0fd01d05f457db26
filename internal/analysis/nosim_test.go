package analysis_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// simulationName matches identifiers that belong to the judge simulator
// and its benchmark harness (internal/judgesim), not to production judging.
var simulationName = regexp.MustCompile(`(?i)scenario|simulat|bench`)

// TestNoSimulationCode keeps the production package free of the judge
// simulator: no non-test file may declare or use a Scenario, Simulate or
// Bench name, import internal/judgesim, or draw random numbers (judges
// decide from observed counters; random traffic is the simulator's job).
// Simulation code belongs in internal/judgesim, which imports this package.
func TestNoSimulationCode(t *testing.T) {
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
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(path, "/judgesim") || strings.HasPrefix(path, "math/rand") {
				t.Errorf("%s: imports %s; simulation code belongs in internal/judgesim", fset.Position(imp.Pos()), path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && simulationName.MatchString(id.Name) {
				t.Errorf("%s: %s is simulation code; it belongs in internal/judgesim", fset.Position(id.Pos()), id.Name)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}

package analysis_test

import (
	"go/ast"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
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
	for _, f := range testutil.PackageSource(t) {
		for _, imp := range f.Imports {
			if strings.HasSuffix(imp.Path, "/judgesim") || strings.HasPrefix(imp.Path, "math/rand") {
				t.Errorf("%s: imports %s; simulation code belongs in internal/judgesim", imp.Pos, imp.Path)
			}
		}
		ast.Inspect(f.AST, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && simulationName.MatchString(id.Name) {
				t.Errorf("%s: %s is simulation code; it belongs in internal/judgesim", f.Position(id), id.Name)
			}
			return true
		})
	}
}

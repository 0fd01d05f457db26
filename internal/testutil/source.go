package testutil

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// SourceFile is one parsed non-test Go file of a package, with the paths
// it imports (each with its position).
type SourceFile struct {
	Name    string
	AST     *ast.File
	Fset    *token.FileSet
	Imports []Import
}

// Import is one import of a source file.
type Import struct {
	Path string
	Pos  token.Position
}

// PackageSource parses the non-test Go files in the current directory
// (a test's package) for tests that hold a package to rules about its own
// code, such as what it may import. It fails the test when there are
// none, so such a test cannot pass by looking at nothing.
func PackageSource(t testing.TB) []SourceFile {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []SourceFile
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		sf := SourceFile{Name: name, AST: f, Fset: fset}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			sf.Imports = append(sf.Imports, Import{Path: path, Pos: fset.Position(imp.Pos())})
		}
		out = append(out, sf)
	}
	if len(out) == 0 {
		t.Fatal("no non-test Go files in this package's directory")
	}
	return out
}

// Position returns where n is in f.
func (f SourceFile) Position(n ast.Node) token.Position {
	return f.Fset.Position(n.Pos())
}

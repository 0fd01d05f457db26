package config

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// A syntax error in a file near the body limit is located within the
// search budget (bytes parsed, not time), and falls back to the library's
// own line when the budget runs out; a small file is searched in full.
func TestSyntaxSearchIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: shipgate/v1\nkind: Service\npadding:\n")
	for i := 0; b.Len() < 1<<20-8192; i++ {
		fmt.Fprintf(&b, "  key%06d: [a, b, {c: d}]\n", i)
	}
	b.WriteString("  name: 'checkout\n")
	for range 300 {
		b.WriteString("  # more\n")
	}
	src := []byte(b.String())
	lines := strings.Count(b.String(), "\n")
	_, err := ParseService("big.yaml", src)
	if err == nil {
		t.Fatal("parsed")
	}
	if !strings.Contains(err.Error(), "big.yaml:") || !strings.Contains(err.Error(), "not valid YAML") {
		t.Fatalf("error %v", err)
	}
	// The search itself, on the same error.
	ps := &prefixSearch{lines: bytes.SplitAfter(src, []byte("\n")), budget: searchBudget}
	ps.errorLine("yaml: line 3: found unexpected end of stream", 3)
	ps.openedAt(lines)
	if ps.parsed > searchBudget {
		t.Fatalf("parsed %d bytes, budget %d", ps.parsed, searchBudget)
	}

	small := "apiVersion: shipgate/v1\nkind: Service\nspec:\n  a: 1\n    b: 2\n"
	_, err = ParseService("small.yaml", []byte(small))
	if err == nil || !strings.Contains(err.Error(), "small.yaml:5:") {
		t.Fatalf("small file: %v", err)
	}
}

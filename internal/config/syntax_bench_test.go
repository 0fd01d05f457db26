package config_test

import (
	"fmt"
	"github.com/shipgate/shipgate/internal/config"
	"strings"
	"testing"
)

// BenchmarkSyntaxErrorLine measures finding the real line of a YAML syntax
// error in a service file near the API's 1 MiB body limit: the worst case
// for the prefix search (an unclosed quote near the end, so the walk back
// runs its full bound of parses), and a plain bad indentation.
func BenchmarkSyntaxErrorLine(b *testing.B) {
	var body strings.Builder
	body.WriteString(valid)
	// Dense YAML, not comments: every line is a mapping entry to parse.
	body.WriteString("\npadding:\n")
	for i := 0; body.Len() < 1<<20-8192; i++ {
		fmt.Fprintf(&body, "  key%06d: [a, b, {c: d}]\n", i)
	}
	for _, c := range []struct{ name, tail string }{
		{"unclosed-quote", "  name: 'checkout\n" + strings.Repeat("  # more\n", 300)},
		{"bad-indent", "spec:\n  a: 1\n    b: 2\n"},
	} {
		benchParseError(b, c.name, []byte(body.String()+c.tail))
	}
	// A flow list left open at the top, then a quarter of a million items
	// (a reviewer's file: 27 s of CPU before the search had a budget).
	benchParseError(b, "open-flow-list", []byte("a: [\n"+strings.Repeat("x,\n", 250000)+"}\n"))
}

func benchParseError(b *testing.B, name string, src []byte) {
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, err := config.ParseService("big.yaml", src); err == nil {
				b.Fatal("parsed")
			}
		}
	})
}

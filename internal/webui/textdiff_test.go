package webui

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// render writes a diff as " x", "-x", "+x" lines.
func renderDiff(d textDiff) string {
	var b strings.Builder
	for _, l := range d.Lines {
		b.WriteString(map[diffOp]string{diffSame: " ", diffDel: "-", diffIns: "+"}[l.Op] + l.Text + "\n")
	}
	return b.String()
}

// apply checks that a diff turns old into new and that its line numbers
// point at the lines it names.
func checkDiff(t *testing.T, oldText, newText string, d textDiff) {
	t.Helper()
	a, b := splitLines(oldText), splitLines(newText)
	var gotOld, gotNew []string
	for _, l := range d.Lines {
		if l.Op != diffIns {
			gotOld = append(gotOld, l.Text)
			if l.Old < 1 || l.Old > len(a) || a[l.Old-1] != l.Text {
				t.Fatalf("old line number %d of %q is wrong", l.Old, l.Text)
			}
		}
		if l.Op != diffDel {
			gotNew = append(gotNew, l.Text)
			if l.New < 1 || l.New > len(b) || b[l.New-1] != l.Text {
				t.Fatalf("new line number %d of %q is wrong", l.New, l.Text)
			}
		}
	}
	if strings.Join(gotOld, "\n") != strings.Join(a, "\n") || strings.Join(gotNew, "\n") != strings.Join(b, "\n") {
		t.Fatalf("the diff does not rebuild the texts:\n%s", renderDiff(d))
	}
}

func TestDiffLines(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
		added, removed       int
	}{
		{"equal", "a\nb\n", "a\nb\n", " a\n b\n", 0, 0},
		{"both empty", "", "", "", 0, 0},
		{"from nothing", "", "a\nb\n", "+a\n+b\n", 2, 0},
		{"to nothing", "a\n", "", "-a\n", 0, 1},
		{"one changed", "a\nb\nc\n", "a\nB\nc\n", " a\n-b\n+B\n c\n", 1, 1},
		{"inserted", "a\nc\n", "a\nb\nc\n", " a\n+b\n c\n", 1, 0},
		{"deleted", "a\nb\nc\n", "a\nc\n", " a\n-b\n c\n", 0, 1},
		{"crlf is a line end", "a\r\nb\r\n", "a\nb\n", " a\n b\n", 0, 0},
		{"classic", "a\nb\nc\na\nb\nb\na\n", "c\nb\na\nb\na\nc\n", "", 2, 3}, // Myers' paper: D = 5
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diffLines(tc.old, tc.new)
			checkDiff(t, tc.old, tc.new, d)
			if tc.want != "" && renderDiff(d) != tc.want {
				t.Errorf("diff:\n%s\nwant:\n%s", renderDiff(d), tc.want)
			}
			if d.Added != tc.added || d.Removed != tc.removed || d.Whole {
				t.Errorf("added %d removed %d whole %v, want %d %d", d.Added, d.Removed, d.Whole, tc.added, tc.removed)
			}
		})
	}
}

// The diff is minimal (Myers): on random texts it never needs more edits
// than the LCS by dynamic programming says.
func TestDiffLinesIsMinimal(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	gen := func() string {
		var l []string
		for range rng.Intn(30) {
			l = append(l, string(rune('a'+rng.Intn(4))))
		}
		return strings.Join(l, "\n")
	}
	for range 300 {
		a, b := gen(), gen()
		d := diffLines(a, b)
		checkDiff(t, a, b, d)
		la, lb := splitLines(a), splitLines(b)
		lcs := make([][]int, len(la)+1)
		for i := range lcs {
			lcs[i] = make([]int, len(lb)+1)
		}
		for i := len(la) - 1; i >= 0; i-- {
			for j := len(lb) - 1; j >= 0; j-- {
				if la[i] == lb[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		if want := len(la) + len(lb) - 2*lcs[0][0]; d.Added+d.Removed != want {
			t.Fatalf("%q → %q: %d edits, the minimum is %d", a, b, d.Added+d.Removed, want)
		}
	}
}

// A 10,000-line file with a small edit diffs line by line; two large files
// that differ everywhere fall back to a whole-file replacement instead of
// going quadratic.
func TestDiffLinesLargeFiles(t *testing.T) {
	var lines []string
	for i := range 10000 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	old := strings.Join(lines, "\n")
	lines[5000] = "changed"
	d := diffLines(old, strings.Join(lines, "\n"))
	if d.Whole || d.Added != 1 || d.Removed != 1 {
		t.Fatalf("one edit in 10,000 lines: whole %v, +%d −%d", d.Whole, d.Added, d.Removed)
	}
	var other []string
	for i := range 10000 {
		other = append(other, fmt.Sprintf("other %d", i))
	}
	d = diffLines(old, strings.Join(other, "\n"))
	if !d.Whole || d.Added != 10000 || d.Removed != 10000 {
		t.Fatalf("everything changed: whole %v, +%d −%d", d.Whole, d.Added, d.Removed)
	}
	checkDiff(t, old, strings.Join(other, "\n"), d)
}

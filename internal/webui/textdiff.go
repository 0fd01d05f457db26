package webui

import "strings"

// A line diff for service file revisions: the longest common subsequence
// of lines (Myers' O(ND) algorithm), so a change shows as the lines that
// went and the lines that came, in order, with unchanged context between.

// diffOp is what happened to one line.
type diffOp int

const (
	diffSame diffOp = iota
	diffDel
	diffIns
)

// diffLine is one line of a diff, with its line numbers in the old and the
// new text (0 where it has none).
type diffLine struct {
	Op       diffOp
	Text     string
	Old, New int
}

// Same, Del and Ins let templates ask what a line is.
func (l diffLine) Same() bool { return l.Op == diffSame }
func (l diffLine) Del() bool  { return l.Op == diffDel }
func (l diffLine) Ins() bool  { return l.Op == diffIns }

// Bounds of the line diff. Myers' algorithm costs O((N+M)·D) time and,
// keeping each step's frontier to walk back, O(D²) memory, where D is the
// number of differing lines: two long files that differ almost everywhere
// would be quadratic. Past these bounds the diff gives up and shows the
// whole old text removed and the whole new one added, and says so.
const (
	maxDiffLines = 20000 // lines of old and new together, past a common head and tail
	maxDiffEdits = 1000  // differing lines (D)
)

// textDiff is the result of diffLines.
type textDiff struct {
	Lines []diffLine
	// Whole is set when the texts were past the bounds and the diff is a
	// whole-file replacement rather than a line-by-line one.
	Whole          bool
	Added, Removed int
}

// splitLines splits text into lines without their line ends; a final line
// end does not make an empty last line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	return strings.Split(s, "\n")
}

// diffLines diffs old and new line by line.
func diffLines(oldText, newText string) textDiff {
	a, b := splitLines(oldText), splitLines(newText)
	// Common head and tail cost nothing and are the usual case: a small
	// edit in the middle of a file.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var d textDiff
	for i := 0; i < pre; i++ {
		d.Lines = append(d.Lines, diffLine{Op: diffSame, Text: a[i], Old: i + 1, New: i + 1})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	ops, ok := myers(ma, mb)
	if !ok {
		return wholeReplacement(a, b)
	}
	i, j := pre, pre
	for _, op := range ops {
		switch op {
		case diffSame:
			d.Lines = append(d.Lines, diffLine{Op: diffSame, Text: a[i], Old: i + 1, New: j + 1})
			i, j = i+1, j+1
		case diffDel:
			d.Lines = append(d.Lines, diffLine{Op: diffDel, Text: a[i], Old: i + 1})
			d.Removed++
			i++
		case diffIns:
			d.Lines = append(d.Lines, diffLine{Op: diffIns, Text: b[j], New: j + 1})
			d.Added++
			j++
		}
	}
	for k := 0; k < suf; k++ {
		d.Lines = append(d.Lines, diffLine{Op: diffSame, Text: a[i+k], Old: i + k + 1, New: j + k + 1})
	}
	return d
}

func wholeReplacement(a, b []string) textDiff {
	d := textDiff{Whole: true, Removed: len(a), Added: len(b)}
	for i, l := range a {
		d.Lines = append(d.Lines, diffLine{Op: diffDel, Text: l, Old: i + 1})
	}
	for j, l := range b {
		d.Lines = append(d.Lines, diffLine{Op: diffIns, Text: l, New: j + 1})
	}
	return d
}

// myers returns the edit script turning a into b: deletions before
// insertions at each point of change. ok is false when the script would
// need more than maxDiffEdits edits.
func myers(a, b []string) (ops []diffOp, ok bool) {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		for range a {
			ops = append(ops, diffDel)
		}
		for range b {
			ops = append(ops, diffIns)
		}
		return ops, n+m <= maxDiffEdits
	}
	if n+m > maxDiffLines {
		return nil, false
	}
	maxD := min(n+m, maxDiffEdits)
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int // v after each step d, to walk back
	for d := 0; d <= maxD; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				trace = append(trace, append([]int(nil), v[off-d-1:off+d+2]...))
				return backtrack(trace, n, m), true
			}
		}
		trace = append(trace, append([]int(nil), v[off-d-1:off+d+2]...))
	}
	return nil, false
}

// backtrack walks the frontiers of every step back from (n, m) to (0, 0).
// trace[d] holds v[k] for k in [-d-1, d+1] at index k+d+1.
func backtrack(trace [][]int, n, m int) []diffOp {
	var rev []diffOp
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d-1] // k in [-d, d] at index k+d
		at := func(k int) int { return prev[k+d] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			rev = append(rev, diffSame)
			x, y = x-1, y-1
		}
		if x == px {
			rev = append(rev, diffIns)
		} else {
			rev = append(rev, diffDel)
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		rev = append(rev, diffSame)
		x, y = x-1, y-1
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

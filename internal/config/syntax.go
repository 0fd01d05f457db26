package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlProblem turns a syntax error from the YAML library into a Problem at
// the line where the error is.
//
// The library's message ("yaml: line 8: did not find expected key") names
// the line where the enclosing construct began when it knows one (a block
// mapping that started five lines up), not the line it stopped at, and it
// does not expose the latter. So the line is found again by parsing
// prefixes of the file: the error is at the shortest prefix that fails
// with exactly the same error. A prefix that ends inside something left
// open (an unclosed quote or bracket) fails as well, so when the prefixes
// just before that line fail too, the error is traced back to where they
// began failing: the line that opened what swallowed the rest.
func yamlProblem(file string, src []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	reported := 0
	if n, _ := fmt.Sscanf(msg, "line %d:", &reported); n == 1 {
		msg = strings.TrimSpace(msg[strings.IndexByte(msg, ':')+1:])
	}
	ps := &prefixSearch{lines: bytes.SplitAfter(src, []byte("\n")), budget: searchBudget}
	at := ps.errorLine(err.Error(), reported)
	if at == 0 {
		return Problem{File: file, Line: reported, Message: "not valid YAML: " + msg}
	}
	opened := ps.openedAt(at)
	if opened < at {
		return Problem{File: file, Line: opened, Message: fmt.Sprintf("not valid YAML: %s at line %d, inside what begins on this line: is a quote or bracket left open?", msg, at)}
	}
	return Problem{File: file, Line: at, Message: "not valid YAML: " + msg}
}

// maxWalkBack bounds how far openedAt looks back, each step one parse.
const maxWalkBack = 200

// searchBudget bounds the bytes the prefix search parses for one error, so
// a file near the request body limit (1 MiB) costs at most two more
// parses, not a few hundred: past the budget the search stops and the
// library's own line stands. Files people write (a few KiB) have room for
// hundreds of parses, more than the search ever needs.
const searchBudget = 2 << 20

// prefixSearch parses prefixes of a file's lines, within a budget of
// bytes parsed.
type prefixSearch struct {
	lines  [][]byte
	budget int // bytes left to parse
	parsed int // bytes parsed so far
}

// errorLine returns the first line n such that the file's first n lines
// fail with exactly the error want, or 0. Lines before the reported one
// cannot hold the error (the library reports the error's line or that of
// an enclosing construct, which starts earlier); past the error every
// prefix fails the same way, so the search halves the range each step.
func (ps *prefixSearch) errorLine(want string, reported int) int {
	lo, hi := max(reported, 1), len(ps.lines)
	if lo > hi {
		return 0
	}
	if got, ok := ps.prefixError(hi); !ok || got != want {
		return 0
	}
	for lo < hi {
		mid := (lo + hi) / 2
		got, ok := ps.prefixError(mid)
		if !ok {
			return 0 // out of budget: keep the library's line
		}
		if got == want {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// openedAt returns the first line of the run of failing prefixes that ends
// at line at: the line that opened what is still open at at.
func (ps *prefixSearch) openedAt(at int) int {
	first := at
	for n := at - 1; n >= 1 && at-n <= maxWalkBack; n-- {
		got, ok := ps.prefixError(n)
		if !ok {
			return at // out of budget: keep the error's own line
		}
		if got == "" {
			break
		}
		first = n
	}
	if at-first > maxWalkBack-1 {
		return at // no start in sight: keep the error's own line
	}
	return first
}

// prefixError parses the first n lines as a YAML stream and returns the
// first error's text, or "", and false when the budget does not cover the
// parse.
func (ps *prefixSearch) prefixError(n int) (string, bool) {
	prefix := bytes.Join(ps.lines[:n], nil)
	if len(prefix) > ps.budget {
		return "", false
	}
	ps.budget -= len(prefix)
	ps.parsed += len(prefix)
	dec := yaml.NewDecoder(bytes.NewReader(prefix))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return "", true
		}
		if err != nil {
			return err.Error(), true
		}
	}
}

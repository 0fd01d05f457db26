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
	lines := bytes.SplitAfter(src, []byte("\n"))
	at := errorLine(lines, err.Error(), reported)
	if at == 0 {
		return Problem{File: file, Line: reported, Message: "not valid YAML: " + msg}
	}
	opened := openedAt(lines, at)
	if opened < at {
		return Problem{File: file, Line: opened, Message: fmt.Sprintf("not valid YAML: %s at line %d, inside what begins on this line: is a quote or bracket left open?", msg, at)}
	}
	return Problem{File: file, Line: at, Message: "not valid YAML: " + msg}
}

// maxWalkBack bounds how far openedAt looks back, each step one parse.
const maxWalkBack = 200

// errorLine returns the first line n such that the file's first n lines
// fail with exactly the error want, or 0. Lines before the reported one
// cannot hold the error (the library reports the error's line or that of
// an enclosing construct, which starts earlier); past the error every
// prefix fails the same way, so the search halves the range each step.
func errorLine(lines [][]byte, want string, reported int) int {
	lo, hi := max(reported, 1), len(lines)
	if lo > hi || prefixError(lines, hi) != want {
		return 0
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if prefixError(lines, mid) == want {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// openedAt returns the first line of the run of failing prefixes that ends
// at line at: the line that opened what is still open at at.
func openedAt(lines [][]byte, at int) int {
	first := at
	for n := at - 1; n >= 1 && at-n <= maxWalkBack; n-- {
		if prefixError(lines, n) == "" {
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
// first error's text, or "".
func prefixError(lines [][]byte, n int) string {
	dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:n], nil)))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			return err.Error()
		}
	}
}

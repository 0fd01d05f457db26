package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shipgate/shipgate"
)

// Problem is one thing wrong in a file.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Message)
}

// Error lists every problem found in a file, sorted by line. It unwraps to
// an EINVALID shipgate error so that every layer treats it as bad input.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the EINVALID code.
func (e *Error) Unwrap() error {
	return &shipgate.Error{Code: shipgate.EINVALID, Message: e.Error()}
}

func (e *Error) sort() {
	sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Line < e.Problems[j].Line })
}

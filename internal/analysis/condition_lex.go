package analysis

import (
	"fmt"
	"strconv"
	"unicode"
)

// Tokens.

type tokKind int

const (
	tokEOF tokKind = iota
	tokNum
	tokIdent
	tokOp // punctuation and operators, in text
)

type token struct {
	kind tokKind
	text string
	num  float64
	pos  int // 1-based character
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of the condition"
	case tokNum:
		return "number " + t.text
	case tokIdent:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func lex(src string) ([]token, error) {
	var toks []token
	rs := []rune(src)
	bad := func(pos int, msg string) error { return &ConditionError{Expr: src, Pos: pos + 1, Msg: msg} }
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r >= '0' && r <= '9' || r == '.' && i+1 < len(rs) && rs[i+1] >= '0' && rs[i+1] <= '9':
			j := i
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == '.') {
				j++
			}
			if j < len(rs) && (rs[j] == 'e' || rs[j] == 'E') {
				k := j + 1
				if k < len(rs) && (rs[k] == '+' || rs[k] == '-') {
					k++
				}
				if k < len(rs) && rs[k] >= '0' && rs[k] <= '9' {
					for k < len(rs) && rs[k] >= '0' && rs[k] <= '9' {
						k++
					}
					j = k
				}
			}
			text := string(rs[i:j])
			n, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, bad(i, fmt.Sprintf("%q is not a number", text))
			}
			if j < len(rs) && (unicode.IsLetter(rs[j]) || rs[j] == '_') {
				return nil, bad(j, fmt.Sprintf("unexpected %q right after the number %s", rs[j], text))
			}
			toks = append(toks, token{kind: tokNum, text: text, num: n, pos: i + 1})
			i = j
		case unicode.IsLetter(r) || r == '_':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_') {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: string(rs[i:j]), pos: i + 1})
			i = j
		default:
			two := ""
			if i+1 < len(rs) {
				two = string(rs[i : i+2])
			}
			switch two {
			case "<=", ">=", "==", "!=", "&&", "||":
				toks = append(toks, token{kind: tokOp, text: two, pos: i + 1})
				i += 2
				continue
			}
			switch r {
			case '<', '>', '!', '(', ')', '[', ']', '+', '-', '*', '/':
				toks = append(toks, token{kind: tokOp, text: string(r), pos: i + 1})
				i++
			case '=':
				return nil, bad(i, `"=" is not an operator; use "==" to compare`)
			case '&':
				return nil, bad(i, `"&" is not an operator; use "&&" or "and"`)
			case '|':
				return nil, bad(i, `"|" is not an operator; use "||" or "or"`)
			default:
				return nil, bad(i, fmt.Sprintf("unexpected character %q", r))
			}
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(rs) + 1}), nil
}

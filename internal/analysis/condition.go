package analysis

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Condition is a parsed success/failure condition such as "result < 0.01" or "result[0] >= 5 && result[1] < 2".
//
// The language is deliberately small, so that a condition is checked when
// the configuration is loaded rather than when the first measurement
// arrives:
//
//	or:     and { ("||" | "or") and }
//	and:    not { ("&&" | "and") not }
//	not:    ("!" | "not") not | cmp
//	cmp:    sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]
//	sum:    prod { ("+" | "-") prod }
//	prod:   neg { ("*" | "/") neg }
//	neg:    "-" neg | term
//	term:   number | "result" | "result[" N "]" | "len(result)" | "isNaN(" sum ")" | "(" or ")"
//
// "result" is result[0]. "!" and "not" bind looser than a comparison, so
// "not result > 1" means "not (result > 1)". Comparisons take numbers,
// "&&", "||" and "!" take true/false tests, and the whole condition must be
// a test. Arithmetic is IEEE: 1/0 is +Inf and every comparison with NaN
// except "!=" is false.
type Condition struct {
	src  string
	root boolExpr
}

// ConditionError says what is wrong with a condition and where, so that a
// configuration error can point at the character.
type ConditionError struct {
	Expr string
	// Pos is the 1-based character (not byte) the problem starts at.
	Pos int
	Msg string
}

func (e *ConditionError) Error() string {
	return fmt.Sprintf("condition %q, character %d: %s", e.Expr, e.Pos, e.Msg)
}

// Limits keep a hostile or mistaken condition from costing much to parse.
const (
	maxConditionLen   = 4096
	maxConditionDepth = 64
)

// ParseCondition parses expr. The error (a *ConditionError) says what is
// wrong and at which character.
func ParseCondition(expr string) (*Condition, error) {
	src := strings.TrimSpace(expr)
	if src == "" {
		return nil, &ConditionError{Expr: expr, Pos: 1, Msg: "the condition is empty"}
	}
	if len(src) > maxConditionLen {
		return nil, &ConditionError{Expr: src[:40] + "…", Pos: 1, Msg: fmt.Sprintf("the condition is longer than %d bytes", maxConditionLen)}
	}
	if !utf8.ValidString(src) {
		return nil, &ConditionError{Expr: src, Pos: 1, Msg: "the condition is not valid UTF-8"}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	v, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errAt(t.pos, fmt.Sprintf("unexpected %s; join tests with && or ||", t.describe()))
	}
	if v.b == nil {
		return nil, p.errAt(1, fmt.Sprintf("the condition is a number, not a true/false test; compare it, as in %q", src+" < 0.05"))
	}
	return &Condition{src: src, root: v.b}, nil
}

// Eval applies the condition to one measurement's values. It fails, rather
// than guessing, when the condition reads a value the measurement doesn't
// have.
func (c *Condition) Eval(result []float64) (bool, error) {
	return c.root.evalBool(result)
}

// String returns the condition as written (without surrounding space), as
// people recognise it in summaries.
func (c *Condition) String() string { return c.src }

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

// Parser.

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// operand is a parsed sub-expression: a number or a test (exactly one set).
type operand struct {
	n   numExpr
	b   boolExpr
	pos int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) errAt(pos int, msg string) error {
	return &ConditionError{Expr: p.src, Pos: pos, Msg: msg}
}

// isWord reports whether t is the operator op or its word alias.
func isWord(t token, op, word string) bool {
	return t.kind == tokOp && t.text == op || t.kind == tokIdent && t.text == word
}

func (p *parser) wantTest(v operand, op token) error {
	if v.b == nil {
		return p.errAt(v.pos, fmt.Sprintf("%q needs a true/false test, but this is a number; compare it, as in result < 0.05", op.text))
	}
	return nil
}

func (p *parser) wantNumber(v operand, op token) error {
	if v.n == nil {
		return p.errAt(v.pos, fmt.Sprintf("%q needs a number, but this is a true/false test", op.text))
	}
	return nil
}

func (p *parser) parseOr() (operand, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxConditionDepth {
		return operand{}, p.errAt(p.peek().pos, fmt.Sprintf("the condition nests deeper than %d levels", maxConditionDepth))
	}
	left, err := p.parseAnd()
	if err != nil {
		return left, err
	}
	for isWord(p.peek(), "||", "or") {
		op := p.next()
		right, err := p.parseAnd()
		if err != nil {
			return right, err
		}
		if err := p.wantTest(left, op); err != nil {
			return left, err
		}
		if err := p.wantTest(right, op); err != nil {
			return right, err
		}
		left = operand{b: orExpr{left.b, right.b}, pos: left.pos}
	}
	return left, nil
}

func (p *parser) parseAnd() (operand, error) {
	left, err := p.parseNot()
	if err != nil {
		return left, err
	}
	for isWord(p.peek(), "&&", "and") {
		op := p.next()
		right, err := p.parseNot()
		if err != nil {
			return right, err
		}
		if err := p.wantTest(left, op); err != nil {
			return left, err
		}
		if err := p.wantTest(right, op); err != nil {
			return right, err
		}
		left = operand{b: andExpr{left.b, right.b}, pos: left.pos}
	}
	return left, nil
}

func (p *parser) parseNot() (operand, error) {
	if !isWord(p.peek(), "!", "not") {
		return p.parseCmp()
	}
	op := p.next()
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxConditionDepth {
		return operand{}, p.errAt(op.pos, fmt.Sprintf("the condition nests deeper than %d levels", maxConditionDepth))
	}
	x, err := p.parseNot()
	if err != nil {
		return x, err
	}
	if err := p.wantTest(x, op); err != nil {
		return x, err
	}
	return operand{b: notExpr{x.b}, pos: op.pos}, nil
}

var comparisons = map[string]func(a, b float64) bool{
	"<":  func(a, b float64) bool { return a < b },
	"<=": func(a, b float64) bool { return a <= b },
	">":  func(a, b float64) bool { return a > b },
	">=": func(a, b float64) bool { return a >= b },
	"==": func(a, b float64) bool { return a == b },
	"!=": func(a, b float64) bool { return a != b },
}

func isComparison(t token) bool {
	_, ok := comparisons[t.text]
	return t.kind == tokOp && ok
}

func (p *parser) parseCmp() (operand, error) {
	left, err := p.parseSum()
	if err != nil || !isComparison(p.peek()) {
		return left, err
	}
	op := p.next()
	right, err := p.parseSum()
	if err != nil {
		return right, err
	}
	if err := p.wantNumber(left, op); err != nil {
		return left, err
	}
	if err := p.wantNumber(right, op); err != nil {
		return right, err
	}
	if t := p.peek(); isComparison(t) {
		return operand{}, p.errAt(t.pos, fmt.Sprintf("comparisons don't chain; write a %s b && b %s c", op.text, t.text))
	}
	return operand{b: cmpExpr{op: op.text, f: comparisons[op.text], a: left.n, b: right.n}, pos: left.pos}, nil
}

func (p *parser) parseSum() (operand, error) {
	left, err := p.parseProd()
	if err != nil {
		return left, err
	}
	for t := p.peek(); t.kind == tokOp && (t.text == "+" || t.text == "-"); t = p.peek() {
		op := p.next()
		right, err := p.parseProd()
		if err != nil {
			return right, err
		}
		if left, err = p.arith(op, left, right); err != nil {
			return left, err
		}
	}
	return left, nil
}

func (p *parser) parseProd() (operand, error) {
	left, err := p.parseNeg()
	if err != nil {
		return left, err
	}
	for t := p.peek(); t.kind == tokOp && (t.text == "*" || t.text == "/"); t = p.peek() {
		op := p.next()
		right, err := p.parseNeg()
		if err != nil {
			return right, err
		}
		if left, err = p.arith(op, left, right); err != nil {
			return left, err
		}
	}
	return left, nil
}

func (p *parser) arith(op token, left, right operand) (operand, error) {
	if err := p.wantNumber(left, op); err != nil {
		return left, err
	}
	if err := p.wantNumber(right, op); err != nil {
		return right, err
	}
	return operand{n: arithExpr{op: op.text[0], a: left.n, b: right.n}, pos: left.pos}, nil
}

func (p *parser) parseNeg() (operand, error) {
	if t := p.peek(); !(t.kind == tokOp && t.text == "-") {
		return p.parseTerm()
	}
	op := p.next()
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxConditionDepth {
		return operand{}, p.errAt(op.pos, fmt.Sprintf("the condition nests deeper than %d levels", maxConditionDepth))
	}
	x, err := p.parseNeg()
	if err != nil {
		return x, err
	}
	if err := p.wantNumber(x, op); err != nil {
		return x, err
	}
	return operand{n: negExpr{x.n}, pos: op.pos}, nil
}

const termWanted = "a number, result, result[N], len(result), isNaN(…) or \"(\""

func (p *parser) expect(text, context string) error {
	t := p.peek()
	if t.kind != tokOp || t.text != text {
		return p.errAt(t.pos, fmt.Sprintf("expected %q %s, found %s", text, context, t.describe()))
	}
	p.next()
	return nil
}

func (p *parser) parseTerm() (operand, error) {
	t := p.next()
	switch {
	case t.kind == tokNum:
		return operand{n: numLit(t.num), pos: t.pos}, nil
	case t.kind == tokOp && t.text == "(":
		v, err := p.parseOr()
		if err != nil {
			return v, err
		}
		if err := p.expect(")", fmt.Sprintf("to close the \"(\" at character %d", t.pos)); err != nil {
			return v, err
		}
		v.pos = t.pos
		return v, nil
	case t.kind == tokIdent && t.text == "result":
		if n := p.peek(); !(n.kind == tokOp && n.text == "[") {
			return operand{n: resultAt{i: 0, bare: true}, pos: t.pos}, nil
		}
		p.next()
		idx := p.next()
		if idx.kind != tokNum || idx.num != math.Trunc(idx.num) || idx.num < 0 || idx.num > 1<<20 || strings.ContainsAny(idx.text, ".eE") {
			return operand{}, p.errAt(idx.pos, fmt.Sprintf("the index in result[…] must be a whole number such as 0 or 1, found %s", idx.describe()))
		}
		if err := p.expect("]", "after the index"); err != nil {
			return operand{}, err
		}
		return operand{n: resultAt{i: int(idx.num)}, pos: t.pos}, nil
	case t.kind == tokIdent && t.text == "len":
		if err := p.expect("(", "after len"); err != nil {
			return operand{}, err
		}
		if a := p.peek(); a.kind != tokIdent || a.text != "result" {
			return operand{}, p.errAt(a.pos, fmt.Sprintf("len takes only result, as in len(result), found %s", a.describe()))
		}
		p.next()
		if err := p.expect(")", "to close len(result"); err != nil {
			return operand{}, err
		}
		return operand{n: lenResult{}, pos: t.pos}, nil
	case t.kind == tokIdent && t.text == "isNaN":
		if err := p.expect("(", "after isNaN"); err != nil {
			return operand{}, err
		}
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxConditionDepth {
			return operand{}, p.errAt(t.pos, fmt.Sprintf("the condition nests deeper than %d levels", maxConditionDepth))
		}
		x, err := p.parseOr()
		if err != nil {
			return x, err
		}
		if x.n == nil {
			return operand{}, p.errAt(x.pos, "isNaN needs a number, but this is a true/false test")
		}
		if err := p.expect(")", "to close isNaN("); err != nil {
			return operand{}, err
		}
		return operand{b: isNaNExpr{x.n}, pos: t.pos}, nil
	case t.kind == tokIdent:
		hint := ""
		switch strings.ToLower(t.text) {
		case "isnan":
			hint = "; did you mean isNaN?"
		case "results", "value", "values", "x":
			hint = "; the measured values are called result"
		}
		return operand{}, p.errAt(t.pos, fmt.Sprintf("unknown name %q%s (expected %s)", t.text, hint, termWanted))
	case t.kind == tokEOF:
		return operand{}, p.errAt(t.pos, fmt.Sprintf("the condition ends where %s was expected", termWanted))
	}
	return operand{}, p.errAt(t.pos, fmt.Sprintf("expected %s, found %s", termWanted, t.describe()))
}

// Evaluation.

type numExpr interface {
	evalNum(result []float64) (float64, error)
}

type boolExpr interface {
	evalBool(result []float64) (bool, error)
}

type numLit float64

func (n numLit) evalNum([]float64) (float64, error) { return float64(n), nil }

type resultAt struct {
	i    int
	bare bool // written "result"
}

func (r resultAt) evalNum(result []float64) (float64, error) {
	if r.i < len(result) {
		return result[r.i], nil
	}
	if r.bare {
		return 0, fmt.Errorf("result is empty: the query returned no values")
	}
	return 0, fmt.Errorf("result[%d] is out of range: the query returned %s", r.i, plural(len(result), "value"))
}

// plural renders "no values", "1 value", "3 values".
func plural(n int, noun string) string {
	switch n {
	case 0:
		return "no " + noun + "s"
	case 1:
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

type lenResult struct{}

func (lenResult) evalNum(result []float64) (float64, error) { return float64(len(result)), nil }

type negExpr struct{ x numExpr }

func (e negExpr) evalNum(result []float64) (float64, error) {
	v, err := e.x.evalNum(result)
	return -v, err
}

type arithExpr struct {
	op   byte
	a, b numExpr
}

func (e arithExpr) evalNum(result []float64) (float64, error) {
	a, err := e.a.evalNum(result)
	if err != nil {
		return 0, err
	}
	b, err := e.b.evalNum(result)
	if err != nil {
		return 0, err
	}
	switch e.op {
	case '+':
		return a + b, nil
	case '-':
		return a - b, nil
	case '*':
		return a * b, nil
	}
	return a / b, nil
}

type cmpExpr struct {
	op   string
	f    func(a, b float64) bool
	a, b numExpr
}

func (e cmpExpr) evalBool(result []float64) (bool, error) {
	a, err := e.a.evalNum(result)
	if err != nil {
		return false, err
	}
	b, err := e.b.evalNum(result)
	if err != nil {
		return false, err
	}
	return e.f(a, b), nil
}

type isNaNExpr struct{ x numExpr }

func (e isNaNExpr) evalBool(result []float64) (bool, error) {
	v, err := e.x.evalNum(result)
	return err == nil && math.IsNaN(v), err
}

type notExpr struct{ x boolExpr }

func (e notExpr) evalBool(result []float64) (bool, error) {
	v, err := e.x.evalBool(result)
	return !v && err == nil, err
}

// andExpr and orExpr short-circuit, so that "len(result) > 1 && result[1] < 2"
// never reads a missing value.
type andExpr struct{ a, b boolExpr }

func (e andExpr) evalBool(result []float64) (bool, error) {
	v, err := e.a.evalBool(result)
	if err != nil || !v {
		return false, err
	}
	return e.b.evalBool(result)
}

type orExpr struct{ a, b boolExpr }

func (e orExpr) evalBool(result []float64) (bool, error) {
	v, err := e.a.evalBool(result)
	if err != nil || v {
		return v && err == nil, err
	}
	return e.b.evalBool(result)
}

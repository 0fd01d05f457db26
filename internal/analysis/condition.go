package analysis

import (
	"fmt"
	"math"
	"strings"
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

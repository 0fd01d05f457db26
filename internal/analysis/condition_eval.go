package analysis

import (
	"fmt"
	"math"
	"strconv"
)

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

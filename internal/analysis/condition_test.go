package analysis

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestConditionEval(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		expr   string
		result []float64
		want   bool
	}{
		{"result < 0.01", []float64{0.005}, true},
		{"result < 0.01", []float64{0.01}, false},
		{"result <= 0.01", []float64{0.01}, true},
		{"result > 1e-3", []float64{0.002}, true},
		{"result >= 5", []float64{5}, true},
		{"result == 2", []float64{2}, true},
		{"result != 2", []float64{2}, false},
		{"result[0] >= 5 && result[1] < 2", []float64{5, 1}, true},
		{"result[0] >= 5 && result[1] < 2", []float64{5, 3}, false},
		{"result[0] >= 5 and result[1] < 2", []float64{6, 1}, true},
		{"result[0] > 9 || result[1] < 2", []float64{5, 1}, true},
		{"result[0] > 9 or result[1] > 2", []float64{5, 1}, false},
		{"!(result > 1)", []float64{0.5}, true},
		{"not result > 1", []float64{0.5}, true},
		{"! ! (result > 1)", []float64{2}, true},
		{"len(result) == 3", []float64{1, 2, 3}, true},
		{"len(result) == 0", nil, true},
		// Short-circuit: the missing value is never read.
		{"len(result) > 1 && result[1] < 2", []float64{1}, false},
		{"len(result) == 0 || result[0] < 2", nil, true},
		{"isNaN(result)", []float64{nan}, true},
		{"isNaN(result)", []float64{1}, false},
		{"!isNaN(result) && result < 1", []float64{nan}, false},
		{"result < 1", []float64{nan}, false},
		{"result != 1", []float64{nan}, true},
		{"result > 1e300", []float64{inf}, true},
		{"result[0] / result[1] > 0.05", []float64{6, 100}, true},
		{"(result[0] + result[1]) * 2 == 10", []float64{2, 3}, true},
		{"result[0] + result[1] * 2 == 8", []float64{2, 3}, true},
		{"result - 1 - 1 == 0", []float64{2}, true},
		{"result / 2 / 2 == 1", []float64{4}, true},
		{"-result < 0", []float64{1}, true},
		{"--result > 0", []float64{1}, true},
		{"result * -1 == -3", []float64{3}, true},
		{"1 / result > 1e308", []float64{0}, true}, // +Inf, IEEE
		{".5 < result", []float64{0.6}, true},
		{"  result < 2  ", []float64{1}, true},
		{"result > 1 && result < 3 || result == 10", []float64{10}, true},
		{"result > 1 || result < 3 && result == 10", []float64{2}, true}, // && binds tighter
		{"((result)) < ((2))", []float64{1}, true},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.expr)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tt.expr, err)
			continue
		}
		got, err := c.Eval(tt.result)
		if err != nil {
			t.Errorf("%q.Eval(%v): %v", tt.expr, tt.result, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q.Eval(%v) = %v, want %v", tt.expr, tt.result, got, tt.want)
		}
		if c.String() != strings.TrimSpace(tt.expr) {
			t.Errorf("String() = %q, want %q", c.String(), strings.TrimSpace(tt.expr))
		}
	}
}

func TestConditionEvalErrors(t *testing.T) {
	tests := []struct {
		expr   string
		result []float64
		want   string
	}{
		{"result < 1", nil, "result is empty: the query returned no values"},
		{"result[1] < 1", []float64{0.5}, "result[1] is out of range: the query returned 1 value"},
		{"result[2] < 1", []float64{0.5, 1}, "result[2] is out of range: the query returned 2 values"},
		{"result[0] < 1", []float64{}, "result[0] is out of range: the query returned no values"},
		{"isNaN(result[3])", []float64{1}, "result[3] is out of range"},
		{"!(result[3] > 1)", []float64{1}, "result[3] is out of range"},
		{"result[0] > 0 && result[3] > 1", []float64{1}, "result[3] is out of range"},
		{"result[0] > 5 || result[3] > 1", []float64{1}, "result[3] is out of range"},
		{"-result[1] + 1 > 1", []float64{1}, "result[1] is out of range"},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.expr)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tt.expr, err)
			continue
		}
		got, err := c.Eval(tt.result)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q.Eval(%v) = %v, %v; want error containing %q", tt.expr, tt.result, got, err, tt.want)
		}
		if got {
			t.Errorf("%q.Eval(%v) = true with an error", tt.expr, tt.result)
		}
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		expr string
		pos  int
		want string
	}{
		{"", 1, "empty"},
		{"   ", 1, "empty"},
		{"result", 1, "is a number, not a true/false test"},
		{"result[1] + 2", 1, "is a number"},
		{"result <", 9, "the condition ends where a number"},
		{"result < 0.01 &&", 17, "the condition ends"},
		{"result = 1", 8, `use "==" to compare`},
		{"result < 1 & result > 0", 12, `use "&&"`},
		{"result < 1 | result > 0", 12, `use "||"`},
		{"result < 1 < 2", 12, "comparisons don't chain"},
		{"(result < 1", 12, `expected ")" to close the "(" at character 1`},
		{"result < 1)", 11, `unexpected ")"`},
		{"result < 1 result", 12, "unexpected \"result\"; join tests with && or ||"},
		{"result[x] < 1", 8, "the index in result[…] must be a whole number"},
		{"result[1.5] < 1", 8, "whole number"},
		{"result[-1] < 1", 8, "whole number"},
		{"result[1 < 1", 10, `expected "]" after the index`},
		{"value < 1", 1, `unknown name "value"; the measured values are called result`},
		{"isnan(result)", 1, "did you mean isNaN?"},
		{"len(x) > 1", 5, "len takes only result"},
		{"len result > 1", 5, `expected "(" after len`},
		{"isNaN(result < 1)", 7, "isNaN needs a number"},
		{"isNaN(result", 13, `expected ")" to close isNaN(`},
		{"result && result > 1", 1, `"&&" needs a true/false test, but this is a number`},
		{"result > 1 || 2", 15, `"||" needs a true/false test`},
		{"!result", 2, `"!" needs a true/false test`},
		{"(result > 1) + 1 > 0", 1, `"+" needs a number, but this is a true/false test`},
		{"(result > 1) < 2", 1, `"<" needs a number`},
		{"-(result > 1)", 2, `"-" needs a number`},
		{"result < 1e", 11, `unexpected 'e' right after the number 1`},
		{"result < 1.2.3", 10, `"1.2.3" is not a number`},
		{"result < 5% ", 11, `unexpected character '%'`},
		{"résultat < 1", 1, `unknown name "résultat"`},
		{"result\u00a0< 1 &&", 14, "the condition ends"}, // characters, not bytes
		{"result < " + strings.Repeat("(", 100) + "1", 0, "nests deeper than 64 levels"},
		{strings.Repeat("!", 100) + "(result < 1)", 0, "nests deeper"},
		{strings.Repeat("-", 100) + "result < 1", 0, "nests deeper"},
		{"result < 1 " + strings.Repeat("&& result < 1 ", 400), 1, "longer than 4096 bytes"},
		{"result < \xff", 1, "not valid UTF-8"},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.expr)
		if err == nil {
			t.Errorf("ParseCondition(%q) = %q, want an error", tt.expr, c)
			continue
		}
		var ce *ConditionError
		if !errors.As(err, &ce) {
			t.Errorf("ParseCondition(%q): error %T is not a *ConditionError", tt.expr, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCondition(%q) error %q, want it to contain %q", tt.expr, err, tt.want)
		}
		if tt.pos != 0 && ce.Pos != tt.pos {
			t.Errorf("ParseCondition(%q) error at character %d, want %d (%v)", tt.expr, ce.Pos, tt.pos, err)
		}
		if !strings.Contains(err.Error(), "character ") {
			t.Errorf("ParseCondition(%q) error %q doesn't say where", tt.expr, err)
		}
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"result < 0.01", "result[0] >= 5 && result[1] < 2", "!(result > 1) or isNaN(result[2])",
		"len(result) > 1 && result[1] / result[0] < 1e-3", "-(result + 2) * 3 != 4", "((", "result[", "not not",
		"result[99999999999] < 1", "1/0 > 0", "isNaN(1/0 - 1/0)",
	} {
		f.Add(s)
	}
	results := [][]float64{nil, {0}, {1, 2, 3}, {math.NaN(), math.Inf(-1)}}
	f.Fuzz(func(t *testing.T, expr string) {
		c, err := ParseCondition(expr)
		if err != nil {
			var ce *ConditionError
			if !errors.As(err, &ce) || ce.Pos < 1 {
				t.Fatalf("ParseCondition(%q): bad error %v", expr, err)
			}
			return
		}
		for _, r := range results {
			if ok, err := c.Eval(r); ok && err != nil {
				t.Fatalf("%q.Eval(%v) = true with error %v", expr, r, err)
			}
		}
		if _, err := ParseCondition(c.String()); err != nil {
			t.Fatalf("String() %q doesn't parse again: %v", c.String(), err)
		}
	})
}

package flags

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/shipgate/shipgate"
)

// cond is a compiled condition: its operand is decoded once.
type cond struct {
	attr string
	op   shipgate.FlagOp
	// equals: one of these, as kind says; in: the sets.
	kind    byte // 's', 'n', 'b'
	str     string
	num     float64
	boolean bool
	strs    map[string]struct{}
	nums    map[float64]struct{}
	bools   [2]bool // in: false, true
	re      *regexp.Regexp
	ver     shipgate.Semver
}

func compileCond(c shipgate.FlagCondition) (cond, error) {
	cc := cond{attr: c.Attribute, op: c.Op}
	switch {
	case c.Op == shipgate.OpEquals:
		cc.setScalar(c.Value)
	case c.Op == shipgate.OpIn:
		list, _ := c.Value.([]any)
		cc.strs, cc.nums = map[string]struct{}{}, map[float64]struct{}{}
		for _, x := range list {
			switch v := x.(type) {
			case string:
				cc.strs[v] = struct{}{}
			case float64:
				cc.nums[v] = struct{}{}
			case bool:
				if v {
					cc.bools[1] = true
				} else {
					cc.bools[0] = true
				}
			}
		}
	case c.Op.IsNumeric():
		cc.num, _ = c.Value.(float64)
	case c.Op.IsSemver():
		s, _ := c.Value.(string)
		v, err := shipgate.ParseSemver(s)
		if err != nil {
			return cc, fmt.Errorf("version %q: %w", s, err)
		}
		cc.ver = v
	case c.Op == shipgate.OpRegex:
		s, _ := c.Value.(string)
		re, err := shipgate.CompileFlagRegex(s)
		if err != nil {
			return cc, err
		}
		cc.re = re
	default:
		return cc, fmt.Errorf("operator %q is not known", c.Op)
	}
	return cc, nil
}

func (c *cond) setScalar(v any) {
	switch x := v.(type) {
	case string:
		c.kind, c.str = 's', x
	case float64:
		c.kind, c.num = 'n', x
	case bool:
		c.kind, c.boolean = 'b', x
	}
}

// holds tests the condition against ctx. A missing attribute, or one of a
// type the operator does not compare, does not hold. problem is set when
// the context is unusable (a string longer than MaxContextString).
func (c *cond) holds(ctx map[string]any) (ok bool, problem string) {
	raw, present := ctx[c.attr]
	if !present || raw == nil {
		return false, ""
	}
	s, isStr := raw.(string)
	if isStr && len(s) > MaxContextString {
		return false, "attribute " + strconv.Quote(c.attr) + " is longer than 4096 bytes"
	}
	switch c.op {
	case shipgate.OpEquals:
		switch c.kind {
		case 's':
			return isStr && s == c.str, ""
		case 'n':
			n, isNum := number(raw)
			return isNum && n == c.num, ""
		case 'b':
			b, isBool := raw.(bool)
			return isBool && b == c.boolean, ""
		}
	case shipgate.OpIn:
		if isStr {
			_, in := c.strs[s]
			return in, ""
		}
		if b, isBool := raw.(bool); isBool {
			if b {
				return c.bools[1], ""
			}
			return c.bools[0], ""
		}
		if n, isNum := number(raw); isNum {
			_, in := c.nums[n]
			return in, ""
		}
	case shipgate.OpGT, shipgate.OpGE, shipgate.OpLT, shipgate.OpLE:
		n, isNum := number(raw)
		if !isNum {
			return false, ""
		}
		switch c.op {
		case shipgate.OpGT:
			return n > c.num, ""
		case shipgate.OpGE:
			return n >= c.num, ""
		case shipgate.OpLT:
			return n < c.num, ""
		}
		return n <= c.num, ""
	case shipgate.OpSemverGT, shipgate.OpSemverGE, shipgate.OpSemverLT, shipgate.OpSemverLE, shipgate.OpSemverEQ:
		if !isStr {
			return false, ""
		}
		v, err := shipgate.ParseSemver(s)
		if err != nil {
			return false, ""
		}
		cmp := v.Compare(c.ver)
		switch c.op {
		case shipgate.OpSemverGT:
			return cmp > 0, ""
		case shipgate.OpSemverGE:
			return cmp >= 0, ""
		case shipgate.OpSemverLT:
			return cmp < 0, ""
		case shipgate.OpSemverLE:
			return cmp <= 0, ""
		}
		return cmp == 0, ""
	case shipgate.OpRegex:
		return isStr && c.re.MatchString(s), ""
	}
	return false, ""
}

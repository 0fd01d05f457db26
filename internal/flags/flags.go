package flags

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/shipgate/shipgate"
)

// Result is the outcome of one evaluation, in OpenFeature's terms. On
// error, Reason is ERROR, ErrorCode an OFREP error code, and Value and
// Variant are empty: the application falls back to the default it passed
// its SDK.
type Result struct {
	Key          string
	Value        any
	Variant      string
	Reason       string
	ErrorCode    string
	ErrorMessage string
}

// MaxContextString bounds a string attribute a condition or a rollout
// reads: a longer one makes the evaluation fail with INVALID_CONTEXT
// rather than cost a regex match over megabytes.
const MaxContextString = 4096

// Flag is a compiled flag, ready to evaluate. It is immutable and safe
// for concurrent use.
type Flag struct {
	def      shipgate.Flag
	rules    []rule
	rollout  *rollout
	defValue any
	safe     any
}

// Def returns the definition the flag was compiled from.
func (f *Flag) Def() shipgate.Flag { return f.def }

type rule struct {
	conds   []cond
	variant string
	value   any
	rollout *rollout
}

type rollout struct {
	by       string
	upper    []int // exclusive upper bucket of each share, ascending
	variants []string
	values   []any
}

// Compile validates def and prepares it for evaluation. A bad definition
// gives a *shipgate.ValidationError whose paths start with "flag".
func Compile(def shipgate.Flag) (*Flag, error) {
	if problems := def.Validate("flag"); len(problems) > 0 {
		return nil, &shipgate.ValidationError{Problems: problems}
	}
	f := &Flag{def: def, defValue: def.Variants[def.DefaultVariant], safe: def.Variants[def.Served()]}
	for _, r := range def.Rules {
		cr := rule{variant: r.Variant, value: def.Variants[r.Variant]}
		for _, c := range r.When {
			cc, err := compileCond(c)
			if err != nil { // Validate checked every operand
				return nil, fmt.Errorf("flags: %w", err)
			}
			cr.conds = append(cr.conds, cc)
		}
		if r.Rollout != nil {
			cr.rollout = compileRollout(r.Rollout, &def)
		}
		f.rules = append(f.rules, cr)
	}
	if def.Rollout != nil {
		f.rollout = compileRollout(def.Rollout, &def)
	}
	return f, nil
}

func compileRollout(r *shipgate.FlagRollout, def *shipgate.Flag) *rollout {
	buckets, _ := shipgate.SplitBuckets(r.Split)
	ro := &rollout{by: r.Attribute()}
	sum := 0
	for i, s := range r.Split {
		sum += buckets[i]
		ro.upper = append(ro.upper, sum)
		ro.variants = append(ro.variants, s.Variant)
		ro.values = append(ro.values, def.Variants[s.Variant])
	}
	return ro
}

// Evaluate evaluates f for the context ctx (nil is an empty context). A
// nil f is a flag that does not exist: FLAG_NOT_FOUND.
func Evaluate(f *Flag, ctx map[string]any) Result {
	if f == nil {
		return Result{Reason: shipgate.ReasonError, ErrorCode: shipgate.FlagErrNotFound, ErrorMessage: "flag not found"}
	}
	key := f.def.Key
	if f.def.Disabled {
		return Result{Key: key, Value: f.safe, Variant: f.def.Served(), Reason: shipgate.ReasonDisabled}
	}
	if tk, ok := ctx[shipgate.TargetingKey]; ok {
		if _, isStr := tk.(string); !isStr && tk != nil {
			return failed(key, shipgate.FlagErrInvalidContext, "targetingKey must be a string")
		}
	}
	for i := range f.rules {
		r := &f.rules[i]
		match := true
		for j := range r.conds {
			ok, err := r.conds[j].holds(ctx)
			if err != "" {
				return failed(key, shipgate.FlagErrInvalidContext, err)
			}
			if !ok {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		if r.rollout != nil {
			return split(key, r.rollout, ctx)
		}
		return Result{Key: key, Value: r.value, Variant: r.variant, Reason: shipgate.ReasonTargetingMatch}
	}
	if f.rollout != nil {
		return split(key, f.rollout, ctx)
	}
	reason := shipgate.ReasonDefault
	if len(f.rules) == 0 {
		reason = shipgate.ReasonStatic
	}
	return Result{Key: key, Value: f.defValue, Variant: f.def.DefaultVariant, Reason: reason}
}

func failed(key, code, msg string) Result {
	return Result{Key: key, Reason: shipgate.ReasonError, ErrorCode: code, ErrorMessage: msg}
}

func split(key string, r *rollout, ctx map[string]any) Result {
	raw, ok := ctx[r.by]
	if s, isStr := raw.(string); !ok || raw == nil || isStr && s == "" {
		if r.by == shipgate.TargetingKey {
			return failed(key, shipgate.FlagErrTargetingKeyMissing, "the flag's percentage rollout needs a targetingKey in the context")
		}
		return failed(key, shipgate.FlagErrInvalidContext, "the flag's percentage rollout is by attribute "+strconv.Quote(r.by)+", which the context lacks")
	}
	var b int
	switch x := raw.(type) {
	case string:
		if len(x) > MaxContextString {
			return failed(key, shipgate.FlagErrInvalidContext, "attribute "+strconv.Quote(r.by)+" is longer than 4096 bytes")
		}
		b = bucketString(key, x)
	default:
		n, isNum := number(raw)
		if !isNum {
			return failed(key, shipgate.FlagErrInvalidContext, "the flag's percentage rollout is by attribute "+strconv.Quote(r.by)+", which must be a string or a number")
		}
		var buf [64]byte
		b = bucketBytes(key, strconv.AppendFloat(buf[:0], n, 'f', -1, 64))
	}
	for i, up := range r.upper {
		if b < up {
			return Result{Key: key, Value: r.values[i], Variant: r.variants[i], Reason: shipgate.ReasonSplit}
		}
	}
	return failed(key, shipgate.FlagErrGeneral, "the rollout's shares do not cover every bucket") // Compile forbids it
}

// Bucket is the rollout bucket, in [0, 10000), of the attribute value
// value for flag flagKey: the big-endian uint64 of the first 8 bytes of
// SHA-256(flagKey + "\x00" + value), mod 10000. A number attribute hashes
// as its shortest decimal form without exponent (42, 0.5, -3).
func Bucket(flagKey, value string) int { return bucketString(flagKey, value) }

func bucketString(flagKey, value string) int {
	var buf [256]byte
	b := append(buf[:0], flagKey...)
	b = append(b, 0)
	b = append(b, value...)
	sum := sha256.Sum256(b)
	return int(binary.BigEndian.Uint64(sum[:8]) % shipgate.FlagBuckets)
}

func bucketBytes(flagKey string, value []byte) int {
	var buf [256]byte
	b := append(buf[:0], flagKey...)
	b = append(b, 0)
	b = append(b, value...)
	sum := sha256.Sum256(b)
	return int(binary.BigEndian.Uint64(sum[:8]) % shipgate.FlagBuckets)
}

// number reads a numeric context value: float64 as encoding/json decodes
// it, and the integer and float types Go callers pass.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case interface{ Float64() (float64, error) }: // json.Number
		n, err := x.Float64()
		return n, err == nil && !math.IsInf(n, 0)
	}
	return 0, false
}

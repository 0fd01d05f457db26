package shipgate

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
)

// Bounds of a flag definition. Evaluation walks every rule and condition of
// a flag on each call, so they stay small enough to keep one evaluation in
// microseconds (docs/benchmarks.md), and a definition stays readable.
const (
	maxFlagKeyLen      = 128
	maxFlagsPerList    = 500
	maxFlagVariants    = 100
	maxFlagRules       = 100
	maxFlagConditions  = 20
	maxFlagInValues    = 1000
	maxFlagSplits      = 100
	maxFlagAttrLen     = 128
	maxFlagStringLen   = 4096     // a string value or operand
	maxFlagJSONBytes   = 64 << 10 // the encoded variants of one flag
	maxFlagDescription = 500
	// MaxFlagRegexLen and maxFlagRegexInsts bound a regex operand: RE2
	// matches in time proportional to the input times the program.
	MaxFlagRegexLen   = 1024
	maxFlagRegexInsts = 1000
)

// FlagBuckets is the number of rollout buckets: a split's percentages
// have at most two decimals.
const FlagBuckets = 10000

// validFlagKey is the rule for flag keys and variant names: what
// OpenFeature SDKs and OFREP URLs carry without escaping.
func validFlagKey(s string) bool {
	if s == "" || len(s) > maxFlagKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// CompileFlagRegex compiles a regex operand, refusing ones too long or
// too complex to match quickly on every evaluation.
func CompileFlagRegex(p string) (*regexp.Regexp, error) {
	if len(p) > MaxFlagRegexLen {
		return nil, fmt.Errorf("the regex is %d characters long, more than %d", len(p), MaxFlagRegexLen)
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("the regex does not compile: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	sre, _ := syntax.Parse(p, syntax.Perl)
	if prog, err := syntax.Compile(sre.Simplify()); err == nil && len(prog.Inst) > maxFlagRegexInsts {
		return nil, fmt.Errorf("the regex is too complex: it compiles to %d instructions, more than %d; use smaller repeat counts", len(prog.Inst), maxFlagRegexInsts)
	}
	return re, nil
}

// SplitBuckets converts a split's percentages to bucket counts out of
// FlagBuckets; ok is false when a percentage has more than two decimals.
func SplitBuckets(split []FlagSplit) (buckets []int, ok bool) {
	buckets = make([]int, len(split))
	for i, s := range split {
		b := math.Round(s.Percent * 100)
		if math.Abs(b-s.Percent*100) > 1e-6 {
			return nil, false
		}
		buckets[i] = int(b)
	}
	return buckets, true
}

// ValidateFlags checks a list of flags (spec.flags or an environment's);
// path is the list's path ("spec.flags"). Problems are named by field so
// that the service-file parser puts them at their lines.
func ValidateFlags(path string, flags []Flag) []FieldError {
	var v validator
	if len(flags) > maxFlagsPerList {
		v.add(path, "%d flags, more than %d", len(flags), maxFlagsPerList)
	}
	seen := map[string]bool{}
	for i := range flags {
		p := fmt.Sprintf("%s[%d]", path, i)
		f := &flags[i]
		if seen[f.Key] && f.Key != "" {
			v.add(p+".key", "flag %q is defined twice", f.Key)
		}
		seen[f.Key] = true
		v.problems = append(v.problems, f.Validate(p)...)
	}
	return v.problems
}

// Validate checks one flag; path prefixes the problems' paths.
func (f *Flag) Validate(path string) []FieldError {
	var v validator
	switch {
	case f.Key == "":
		v.add(path+".key", "a flag needs a key")
	case !validFlagKey(f.Key):
		v.add(path+".key", "flag key %q is not valid: use up to %d letters, digits, '-', '_' or '.', starting with a letter or digit", f.Key, maxFlagKeyLen)
	}
	if len(f.Description) > maxFlagDescription {
		v.add(path+".description", "the description is longer than %d characters", maxFlagDescription)
	}
	typeOK := false
	for _, t := range FlagTypes {
		typeOK = typeOK || f.Type == t
	}
	if !typeOK {
		if f.Type == "" {
			v.add(path+".type", "flag %q needs a type: one of %s", f.Key, flagTypeList())
		} else {
			v.add(path+".type", "flag type %q is not known: use one of %s", f.Type, flagTypeList())
		}
	}
	if len(f.Variants) == 0 {
		v.add(path+".variants", "flag %q needs variants: a mapping of variant names to values", f.Key)
	}
	if len(f.Variants) > maxFlagVariants {
		v.add(path+".variants", "%d variants, more than %d", len(f.Variants), maxFlagVariants)
	}
	for _, name := range variantNames(f.Variants) {
		vp := path + ".variants." + name
		if !validFlagKey(name) {
			v.add(vp, "variant name %q is not valid: use letters, digits, '-', '_' or '.'", name)
		}
		if typeOK {
			if msg := checkVariantValue(f.Type, f.Variants[name]); msg != "" {
				v.add(vp, "variant %q of %s flag %q %s", name, f.Type, f.Key, msg)
			}
		}
	}
	if b, err := json.Marshal(f.Variants); err != nil {
		v.add(path+".variants", "the variants cannot be encoded as JSON: %s", err)
	} else if len(b) > maxFlagJSONBytes {
		v.add(path+".variants", "the variants take %d bytes as JSON, more than %d", len(b), maxFlagJSONBytes)
	}
	v.variantRef(path+".default_variant", "default_variant", f.DefaultVariant, f, true)
	v.variantRef(path+".safe_variant", "safe_variant", f.SafeVariant, f, true)
	if f.Serve != "" {
		v.variantRef(path+".serve", "serve", f.Serve, f, true)
		if !f.Disabled {
			v.add(path+".serve", "serve is the variant a disabled flag serves; flag %q is enabled", f.Key)
		}
	}
	if len(f.Rules) > maxFlagRules {
		v.add(path+".rules", "%d rules, more than %d", len(f.Rules), maxFlagRules)
	}
	for i := range f.Rules {
		v.flagRule(fmt.Sprintf("%s.rules[%d]", path, i), &f.Rules[i], f)
	}
	if f.Rollout != nil {
		v.flagRollout(path+".rollout", f.Rollout, f)
	}
	return v.problems
}

func flagTypeList() string {
	s := make([]string, len(FlagTypes))
	for i, t := range FlagTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func variantNames(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkVariantValue returns what is wrong with a variant value for type
// t, or "".
func checkVariantValue(t FlagType, val any) string {
	switch t {
	case FlagBoolean:
		if _, ok := val.(bool); !ok {
			return "must be true or false, not " + describeValue(val)
		}
	case FlagString:
		s, ok := val.(string)
		if !ok {
			return "must be a string, not " + describeValue(val)
		}
		if len(s) > maxFlagStringLen {
			return fmt.Sprintf("is longer than %d characters", maxFlagStringLen)
		}
	case FlagNumber:
		n, ok := val.(float64)
		if !ok {
			return "must be a number, not " + describeValue(val)
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return "must be a finite number"
		}
	case FlagJSON:
		if val == nil {
			return "must be a JSON value, not empty"
		}
	}
	return ""
}

// describeValue names a value's kind for messages.
func describeValue(val any) string {
	switch x := val.(type) {
	case nil:
		return "empty"
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case string:
		return fmt.Sprintf("the string %q", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", val)
}

func (v *validator) variantRef(path, what, name string, f *Flag, required bool) {
	if name == "" {
		if required {
			v.add(path, "flag %q needs a %s (one of its variants)", f.Key, what)
		}
		return
	}
	if _, ok := f.Variants[name]; !ok && len(f.Variants) > 0 {
		v.add(path, "%s %q is not a variant of flag %q; its variants are %s", what, name, f.Key, quoteList(variantNames(f.Variants)))
	}
}

func (v *validator) flagRule(path string, r *FlagRule, f *Flag) {
	switch {
	case r.Variant != "" && r.Rollout != nil:
		v.add(path, "a rule serves either a variant or a rollout, not both")
	case r.Variant == "" && r.Rollout == nil:
		v.add(path, "a rule needs a variant or a rollout to serve when it matches")
	case r.Variant != "":
		v.variantRef(path+".variant", "variant", r.Variant, f, true)
	default:
		v.flagRollout(path+".rollout", r.Rollout, f)
	}
	if len(r.When) > maxFlagConditions {
		v.add(path+".when", "%d conditions, more than %d", len(r.When), maxFlagConditions)
	}
	for i := range r.When {
		v.flagCondition(fmt.Sprintf("%s.when[%d]", path, i), &r.When[i])
	}
}

func (v *validator) flagCondition(path string, c *FlagCondition) {
	switch {
	case c.Attribute == "":
		v.add(path+".attribute", "a condition needs the context attribute it tests")
	case len(c.Attribute) > maxFlagAttrLen:
		v.add(path+".attribute", "the attribute name is longer than %d characters", maxFlagAttrLen)
	}
	vp := path + ".value"
	switch {
	case c.Op == "":
		v.add(path+".op", "a condition needs an operator: one of %s", flagOpList())
	case c.Op == OpEquals:
		v.scalarOperand(vp, c.Op, c.Value)
	case c.Op == OpIn:
		list, ok := c.Value.([]any)
		if !ok {
			v.add(vp, "the value of an \"in\" condition must be a list, not %s", describeValue(c.Value))
			return
		}
		if len(list) == 0 || len(list) > maxFlagInValues {
			v.add(vp, "the list of an \"in\" condition must hold 1 to %d values, not %d", maxFlagInValues, len(list))
		}
		for i, x := range list {
			v.scalarOperand(fmt.Sprintf("%s[%d]", vp, i), c.Op, x)
		}
	case c.Op.IsNumeric():
		if n, ok := c.Value.(float64); !ok || math.IsNaN(n) || math.IsInf(n, 0) {
			v.add(vp, "operator %s compares numbers: the value must be a number, not %s", c.Op, describeValue(c.Value))
		}
	case c.Op.IsSemver():
		s, ok := c.Value.(string)
		if !ok {
			v.add(vp, "operator %s compares versions: the value must be a version string such as \"2.1.0\", not %s", c.Op, describeValue(c.Value))
		} else if _, err := ParseSemver(s); err != nil {
			v.add(vp, "%q is not a semantic version: %s", s, err)
		}
	case c.Op == OpRegex:
		s, ok := c.Value.(string)
		if !ok {
			v.add(vp, "the value of a regex condition must be a string, not %s", describeValue(c.Value))
		} else if _, err := CompileFlagRegex(s); err != nil {
			v.add(vp, "%s", err)
		}
	default:
		v.add(path+".op", "operator %q is not known: use one of %s", c.Op, flagOpList())
	}
}

func (v *validator) scalarOperand(path string, op FlagOp, x any) {
	switch val := x.(type) {
	case string:
		if len(val) > maxFlagStringLen {
			v.add(path, "the value is longer than %d characters", maxFlagStringLen)
		}
	case bool:
	case float64:
		if math.IsNaN(val) || math.IsInf(val, 0) {
			v.add(path, "the value must be a finite number")
		}
	default:
		v.add(path, "operator %s compares a string, a number or a boolean, not %s", op, describeValue(x))
	}
}

func flagOpList() string {
	s := make([]string, len(FlagOps))
	for i, op := range FlagOps {
		s[i] = string(op)
	}
	return strings.Join(s, ", ")
}

func (v *validator) flagRollout(path string, r *FlagRollout, f *Flag) {
	if len(r.By) > maxFlagAttrLen {
		v.add(path+".by", "the attribute name is longer than %d characters", maxFlagAttrLen)
	}
	if len(r.Split) == 0 {
		v.add(path+".split", "a rollout needs a split: a list of {variant, percent}")
		return
	}
	if len(r.Split) > maxFlagSplits {
		v.add(path+".split", "%d shares, more than %d", len(r.Split), maxFlagSplits)
	}
	seen := map[string]bool{}
	total, allValid := 0, true
	for i, s := range r.Split {
		sp := fmt.Sprintf("%s.split[%d]", path, i)
		v.variantRef(sp+".variant", "variant", s.Variant, f, true)
		if seen[s.Variant] && s.Variant != "" {
			v.add(sp+".variant", "variant %q appears twice in the split", s.Variant)
		}
		seen[s.Variant] = true
		b, ok := SplitBuckets([]FlagSplit{s})
		switch {
		case s.Percent < 0 || s.Percent > 100 || math.IsNaN(s.Percent):
			v.add(sp+".percent", "percent must be between 0 and 100, not %v", s.Percent)
			allValid = false
		case !ok:
			v.add(sp+".percent", "percent %v has more than two decimals", s.Percent)
			allValid = false
		default:
			total += b[0]
		}
	}
	if allValid && total != FlagBuckets {
		v.add(path+".split", "the percentages sum to %s, not 100", formatPercent(total))
	}
}

func formatPercent(buckets int) string {
	if buckets%100 == 0 {
		return fmt.Sprintf("%d", buckets/100)
	}
	return fmt.Sprintf("%.2f", float64(buckets)/100)
}

// EffectiveFlags is the flags of environment e: the service's, with
// any the environment declares under the same key replaced whole (a
// replacement restates the flag: an environment's flag never silently
// inherits half of another definition), and the environment's others
// added after them.
func (s *ServiceSpec) EffectiveFlags(e *Environment) []Flag {
	if e == nil || len(e.Flags) == 0 {
		return s.Flags
	}
	over := map[string]int{}
	for i, f := range e.Flags {
		over[f.Key] = i
	}
	out := make([]Flag, 0, len(s.Flags)+len(e.Flags))
	used := map[string]bool{}
	for _, f := range s.Flags {
		if i, ok := over[f.Key]; ok {
			out = append(out, e.Flags[i])
			used[f.Key] = true
			continue
		}
		out = append(out, f)
	}
	for _, f := range e.Flags {
		if !used[f.Key] {
			out = append(out, f)
		}
	}
	return out
}

// flagGovernance checks an environment's flag_approvals and its rollback
// mitigations: approvals as for releases but never self-approved, and
// mitigations that name a flag of the environment and one of its variants.
func (v *validator) flagGovernance(p string, s *ServiceSpec, e *Environment) {
	if a := e.FlagApprovals; a != nil {
		if a.Required < 0 {
			v.add(p+".flag_approvals.required", "required approvals must be 0 or more, not %d", a.Required)
		}
		if a.AllowSelfApproval {
			v.add(p+".flag_approvals.allow_self_approval", "flag changes are never self-approved: remove allow_self_approval")
		}
		for j, g := range a.FromGroups {
			if !validName(g) {
				v.add(fmt.Sprintf("%s.flag_approvals.from_groups[%d]", p, j), "group name %q is not valid", g)
			}
		}
	}
	if len(e.Rollback.Mitigations) == 0 {
		return
	}
	flags := map[string]*Flag{}
	eff := s.EffectiveFlags(e)
	for i := range eff {
		flags[eff[i].Key] = &eff[i]
	}
	seen := map[string]bool{}
	for j, m := range e.Rollback.Mitigations {
		mp := fmt.Sprintf("%s.rollback.mitigations[%d]", p, j)
		f, ok := flags[m.Flag]
		switch {
		case m.Flag == "":
			v.add(mp+".flag", "a mitigation names the flag it flips")
			continue
		case seen[m.Flag]:
			v.add(mp+".flag", "flag %q is flipped twice", m.Flag)
			continue
		case !ok:
			keys := make([]string, 0, len(eff))
			for _, f := range eff {
				keys = append(keys, f.Key)
			}
			if len(keys) == 0 {
				v.add(mp+".flag", "flag %q is not a flag of environment %s, which has none (declare it under spec.flags)", m.Flag, e.Name)
			} else {
				v.add(mp+".flag", "flag %q is not a flag of environment %s; its flags are %s", m.Flag, e.Name, quoteList(keys))
			}
			continue
		}
		seen[m.Flag] = true
		if m.Variant != "" {
			v.variantRef(mp+".variant", "variant", m.Variant, f, false)
		}
	}
}

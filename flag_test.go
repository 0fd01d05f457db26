package shipgate

import (
	"strings"
	"testing"
)

func TestParseSemver(t *testing.T) {
	for _, s := range []string{"1.2.3", "v1.2.3", "0.0.0", "1.2.3-rc.1", "1.2.3-alpha-x.0a", "1.2.3+build.7", "1.2.3-rc.1+sha.abc", "18446744073709551615.0.0"} {
		if _, err := ParseSemver(s); err != nil {
			t.Errorf("ParseSemver(%q) = %v", s, err)
		}
	}
	for s, want := range map[string]string{
		"1.2":                      "want MAJOR.MINOR.PATCH",
		"1.2.3.4":                  "want MAJOR.MINOR.PATCH",
		"01.2.3":                   "without leading zeros",
		"1.x.3":                    "must be numbers",
		"":                         "want MAJOR.MINOR.PATCH",
		"1.2.3-":                   "bad pre-release",
		"1.2.3-rc..1":              "bad pre-release",
		"1.2.3-rc.01":              "bad pre-release",
		"1.2.3+":                   "bad build metadata",
		"1.2.3-r_c":                "bad pre-release",
		"18446744073709551616.0.0": "too large",
		strings.Repeat("1", 300):   "longer than 256",
	} {
		if _, err := ParseSemver(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSemver(%q) = %v, want %q", s, err, want)
		}
	}
}

// TestSemverPrecedence walks semver.org's example ordering.
func TestSemverPrecedence(t *testing.T) {
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0"}
	for i := range order {
		for j := range order {
			a, _ := ParseSemver(order[i])
			b, _ := ParseSemver(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s vs %s = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	a, _ := ParseSemver("1.0.0+a")
	b, _ := ParseSemver("v1.0.0+b")
	if a.Compare(b) != 0 {
		t.Error("build metadata takes part in precedence")
	}
}

func validFlag() Flag {
	return Flag{Key: "f", Type: FlagString, Variants: map[string]any{"a": "x", "b": "y"}, DefaultVariant: "a", SafeVariant: "a"}
}

func TestFlagValidate(t *testing.T) {
	ok := []func(*Flag){
		func(f *Flag) {},
		func(f *Flag) {
			f.Rollout = &FlagRollout{By: "tenant", Split: []FlagSplit{{"a", 33.33}, {"b", 66.67}}}
		},
		func(f *Flag) { f.Rollout = &FlagRollout{Split: []FlagSplit{{"a", 100}, {"b", 0}}} },
		func(f *Flag) {
			f.Type, f.Variants = FlagJSON, map[string]any{"a": map[string]any{"x": []any{1.0}}, "b": "plain"}
		},
		func(f *Flag) { f.Rules = []FlagRule{{Variant: "b"}} }, // no conditions: everyone
	}
	for i, mod := range ok {
		f := validFlag()
		mod(&f)
		if p := f.Validate("flag"); len(p) != 0 {
			t.Errorf("ok %d: %v", i, p)
		}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Flag)
		want string
	}{
		{"no key", func(f *Flag) { f.Key = "" }, "flag.key: a flag needs a key"},
		{"no type", func(f *Flag) { f.Type = "" }, `flag.type: flag "f" needs a type: one of boolean, string, number, json`},
		{"no variants", func(f *Flag) { f.Variants = nil }, `flag.variants: flag "f" needs variants`},
		{"bad variant name", func(f *Flag) { f.Variants["a b"] = "z" }, `flag.variants.a b: variant name "a b" is not valid`},
		{"json null", func(f *Flag) { f.Type = FlagJSON; f.Variants["b"] = nil }, `flag.variants.b: variant "b" of json flag "f" must be a JSON value, not empty`},
		{"string too long", func(f *Flag) { f.Variants["b"] = strings.Repeat("x", 5000) }, `is longer than 4096 characters`},
		{"json too big", func(f *Flag) {
			f.Type = FlagJSON
			f.Variants["b"] = []any{strings.Repeat("x", 40000), strings.Repeat("y", 40000)}
		}, `flag.variants: the variants take`},
		{"safe unknown", func(f *Flag) { f.SafeVariant = "z" }, `flag.safe_variant: safe_variant "z" is not a variant of flag "f"; its variants are "a", "b"`},
		{"variant and rollout", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", Rollout: &FlagRollout{Split: []FlagSplit{{"a", 100}}}}}
		}, "flag.rules[0]: a rule serves either a variant or a rollout, not both"},
		{"rule variant unknown", func(f *Flag) { f.Rules = []FlagRule{{Variant: "c"}} }, `flag.rules[0].variant: variant "c" is not a variant`},
		{"split twice", func(f *Flag) { f.Rollout = &FlagRollout{Split: []FlagSplit{{"a", 50}, {"a", 50}}} }, `flag.rollout.split[1].variant: variant "a" appears twice in the split`},
		{"split empty", func(f *Flag) { f.Rollout = &FlagRollout{} }, "flag.rollout.split: a rollout needs a split"},
		{"negative percent", func(f *Flag) { f.Rollout = &FlagRollout{Split: []FlagSplit{{"a", -10}, {"b", 110}}} }, "flag.rollout.split[0].percent: percent must be between 0 and 100, not -10"},
		{"percent over", func(f *Flag) { f.Rollout = &FlagRollout{Split: []FlagSplit{{"a", 60}, {"b", 50}}} }, "flag.rollout.split: the percentages sum to 110, not 100"},
		{"percent decimals sum", func(f *Flag) { f.Rollout = &FlagRollout{Split: []FlagSplit{{"a", 33.33}, {"b", 66.66}}} }, "the percentages sum to 99.99, not 100"},
		{"no attribute", func(f *Flag) { f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Op: OpEquals, Value: "x"}}}} }, "flag.rules[0].when[0].attribute: a condition needs the context attribute it tests"},
		{"no op", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Attribute: "x", Value: "x"}}}}
		}, "flag.rules[0].when[0].op: a condition needs an operator"},
		{"equals a list", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Attribute: "x", Op: OpEquals, Value: []any{"x"}}}}}
		}, "operator equals compares a string, a number or a boolean, not a list"},
		{"in empty", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Attribute: "x", Op: OpIn, Value: []any{}}}}}
		}, `the list of an "in" condition must hold 1 to 1000 values, not 0`},
		{"in of maps", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Attribute: "x", Op: OpIn, Value: []any{map[string]any{}}}}}}
		}, "flag.rules[0].when[0].value[0]: operator in compares a string, a number or a boolean, not a mapping"},
		{"semver not string", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Attribute: "v", Op: OpSemverGT, Value: 2.0}}}}
		}, `operator semver_gt compares versions: the value must be a version string such as "2.1.0", not the number 2`},
		{"regex too long", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Attribute: "v", Op: OpRegex, Value: strings.Repeat("a", 1025)}}}}
		}, "the regex is 1025 characters long, more than 1024"},
		{"regex too complex", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Attribute: "v", Op: OpRegex, Value: "(a{1,100}){1,100}"}}}}
		}, "the regex does not compile: invalid repeat count"},
		{"regex big program", func(f *Flag) {
			f.Rules = []FlagRule{{Variant: "a", When: []FlagCondition{{Attribute: "v", Op: OpRegex, Value: "[a-z]{1,900}x"}}}}
		}, "the regex is too complex: it compiles to"},
	} {
		f := validFlag()
		tc.mod(&f)
		got := ""
		for _, p := range f.Validate("flag") {
			got += p.Path + ": " + p.Message + "\n"
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: got\n%swant %q", tc.name, got, tc.want)
		}
	}
}

func TestValidateFlagsDuplicatesAndEffective(t *testing.T) {
	a, b := validFlag(), validFlag()
	p := ValidateFlags("spec.flags", []Flag{a, b})
	if len(p) != 1 || p[0].Path != "spec.flags[1].key" || p[0].Message != `flag "f" is defined twice` {
		t.Fatalf("problems = %v", p)
	}
	off := validFlag()
	off.Disabled = true
	extra := validFlag()
	extra.Key = "g"
	other := validFlag()
	other.Key = "h"
	spec := ServiceSpec{Flags: []Flag{a, other}, Environments: []Environment{{Name: "prod", Flags: []Flag{extra, off}}, {Name: "dev"}}}
	got := spec.EffectiveFlags(&spec.Environments[0])
	if len(got) != 3 || got[0].Key != "f" || !got[0].Disabled || got[1].Key != "h" || got[2].Key != "g" {
		t.Fatalf("effective = %+v", got)
	}
	if got := spec.EffectiveFlags(&spec.Environments[1]); len(got) != 2 || got[0].Disabled {
		t.Fatalf("dev = %+v", got)
	}
	if got := spec.EffectiveFlags(nil); len(got) != 2 {
		t.Fatalf("nil env = %+v", got)
	}
}

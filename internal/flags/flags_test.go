package flags_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/flags"
)

func cond(attr string, op shipgate.FlagOp, v any) shipgate.FlagCondition {
	return shipgate.FlagCondition{Attribute: attr, Op: op, Value: v}
}

// oneRule is a string flag serving "hit" when c holds, "miss" otherwise.
func oneRule(t testing.TB, c shipgate.FlagCondition) *flags.Flag {
	t.Helper()
	return mustCompile(t, shipgate.Flag{
		Key: "f", Type: shipgate.FlagString,
		Variants:       map[string]any{"hit": "H", "miss": "M"},
		DefaultVariant: "miss", SafeVariant: "miss",
		Rules: []shipgate.FlagRule{{When: []shipgate.FlagCondition{c}, Variant: "hit"}},
	})
}

func mustCompile(t testing.TB, def shipgate.Flag) *flags.Flag {
	t.Helper()
	f, err := flags.Compile(def)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestOperators(t *testing.T) {
	type ctx = map[string]any
	for _, tc := range []struct {
		name string
		c    shipgate.FlagCondition
		ctx  ctx
		hit  bool
	}{
		{"equals string", cond("plan", shipgate.OpEquals, "pro"), ctx{"plan": "pro"}, true},
		{"equals string differs", cond("plan", shipgate.OpEquals, "pro"), ctx{"plan": "Pro"}, false},
		{"equals number", cond("seats", shipgate.OpEquals, 3.0), ctx{"seats": 3}, true},
		{"equals number from JSON", cond("seats", shipgate.OpEquals, 3.0), ctx{"seats": json.Number("3")}, true},
		{"equals bool", cond("beta", shipgate.OpEquals, true), ctx{"beta": true}, true},
		{"equals bool differs", cond("beta", shipgate.OpEquals, true), ctx{"beta": false}, false},
		{"equals type differs", cond("seats", shipgate.OpEquals, 3.0), ctx{"seats": "3"}, false},
		{"equals missing", cond("plan", shipgate.OpEquals, "pro"), ctx{}, false},
		{"equals null", cond("plan", shipgate.OpEquals, "pro"), ctx{"plan": nil}, false},
		{"in string", cond("country", shipgate.OpIn, []any{"NL", "BE"}), ctx{"country": "BE"}, true},
		{"in string absent", cond("country", shipgate.OpIn, []any{"NL", "BE"}), ctx{"country": "DE"}, false},
		{"in number", cond("tier", shipgate.OpIn, []any{1.0, 2.0}), ctx{"tier": 2.0}, true},
		{"in bool", cond("beta", shipgate.OpIn, []any{true}), ctx{"beta": true}, true},
		{"in bool absent", cond("beta", shipgate.OpIn, []any{true}), ctx{"beta": false}, false},
		{"in map value", cond("beta", shipgate.OpIn, []any{"x"}), ctx{"beta": map[string]any{}}, false},
		{"gt", cond("n", shipgate.OpGT, 10.0), ctx{"n": 10.5}, true},
		{"gt equal", cond("n", shipgate.OpGT, 10.0), ctx{"n": 10}, false},
		{"ge equal", cond("n", shipgate.OpGE, 10.0), ctx{"n": int64(10)}, true},
		{"ge below", cond("n", shipgate.OpGE, 10.0), ctx{"n": 9.99}, false},
		{"lt", cond("n", shipgate.OpLT, 0.0), ctx{"n": -1}, true},
		{"lt equal", cond("n", shipgate.OpLT, 0.0), ctx{"n": 0}, false},
		{"le equal", cond("n", shipgate.OpLE, 0.0), ctx{"n": 0.0}, true},
		{"le above", cond("n", shipgate.OpLE, 0.0), ctx{"n": uint8(1)}, false},
		{"number op on string", cond("n", shipgate.OpGT, 1.0), ctx{"n": "5"}, false},
		{"semver_gt", cond("v", shipgate.OpSemverGT, "2.3.0"), ctx{"v": "2.10.0"}, true},
		{"semver_gt not lexical", cond("v", shipgate.OpSemverGT, "2.10.0"), ctx{"v": "2.9.0"}, false},
		{"semver_gt pre-release lower", cond("v", shipgate.OpSemverGT, "2.3.0"), ctx{"v": "2.3.0-rc.1"}, false},
		{"semver_ge equal", cond("v", shipgate.OpSemverGE, "2.3.0"), ctx{"v": "v2.3.0"}, true},
		{"semver_ge build ignored", cond("v", shipgate.OpSemverGE, "2.3.0"), ctx{"v": "2.3.0+abc"}, true},
		{"semver_lt", cond("v", shipgate.OpSemverLT, "2.0.0"), ctx{"v": "1.99.99"}, true},
		{"semver_lt pre-release order", cond("v", shipgate.OpSemverLT, "1.0.0-rc.10"), ctx{"v": "1.0.0-rc.2"}, true},
		{"semver_le", cond("v", shipgate.OpSemverLE, "2.0.0"), ctx{"v": "2.0.0"}, true},
		{"semver_le above", cond("v", shipgate.OpSemverLE, "2.0.0"), ctx{"v": "2.0.1"}, false},
		{"semver_eq", cond("v", shipgate.OpSemverEQ, "1.2.3"), ctx{"v": "v1.2.3+build.7"}, true},
		{"semver_eq differs", cond("v", shipgate.OpSemverEQ, "1.2.3"), ctx{"v": "1.2.4"}, false},
		{"semver bad context value", cond("v", shipgate.OpSemverGE, "1.0.0"), ctx{"v": "latest"}, false},
		{"semver number context", cond("v", shipgate.OpSemverGE, "1.0.0"), ctx{"v": 2}, false},
		{"regex anywhere", cond("email", shipgate.OpRegex, `@example\.com$`), ctx{"email": "ann@example.com"}, true},
		{"regex no match", cond("email", shipgate.OpRegex, `@example\.com$`), ctx{"email": "ann@example.com.evil"}, false},
		{"regex unanchored", cond("email", shipgate.OpRegex, `example`), ctx{"email": "ann@example.org"}, true},
		{"regex on number", cond("email", shipgate.OpRegex, `1`), ctx{"email": 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := flags.Evaluate(oneRule(t, tc.c), tc.ctx)
			if r.ErrorCode != "" {
				t.Fatalf("error %s: %s", r.ErrorCode, r.ErrorMessage)
			}
			want, reason := "miss", shipgate.ReasonDefault
			if tc.hit {
				want, reason = "hit", shipgate.ReasonTargetingMatch
			}
			if r.Variant != want || r.Reason != reason || r.Key != "f" {
				t.Fatalf("got variant %s reason %s, want %s %s", r.Variant, r.Reason, want, reason)
			}
		})
	}
}

// checkout is a boolean flag with three rules and a rollout, as in
// docs/flags.md.
func checkout() shipgate.Flag {
	return shipgate.Flag{
		Key: "new-checkout", Type: shipgate.FlagBoolean,
		Variants:       map[string]any{"on": true, "off": false},
		DefaultVariant: "off", SafeVariant: "off",
		Rules: []shipgate.FlagRule{
			{Name: "staff", When: []shipgate.FlagCondition{cond("email", shipgate.OpRegex, `@example\.com$`)}, Variant: "on"},
			{Name: "old apps", When: []shipgate.FlagCondition{cond("app_version", shipgate.OpSemverLT, "2.0.0")}, Variant: "off"},
			{Name: "benelux", When: []shipgate.FlagCondition{
				cond("country", shipgate.OpIn, []any{"NL", "BE", "LU"}),
				cond("seats", shipgate.OpGE, 10.0),
			}, Rollout: &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "on", Percent: 50}, {Variant: "off", Percent: 50}}}},
		},
		Rollout: &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "on", Percent: 10}, {Variant: "off", Percent: 90}}},
	}
}

func TestReasons(t *testing.T) {
	static := mustCompile(t, shipgate.Flag{Key: "s", Type: shipgate.FlagNumber,
		Variants: map[string]any{"low": 1.0, "high": 9.0}, DefaultVariant: "high", SafeVariant: "low"})
	noRollout := checkout()
	noRollout.Rollout = nil
	killed := checkout()
	killed.Disabled = true
	for _, tc := range []struct {
		name    string
		f       *flags.Flag
		ctx     map[string]any
		variant string
		value   any
		reason  string
	}{
		{"static", static, nil, "high", 9.0, shipgate.ReasonStatic},
		{"static ignores context", static, map[string]any{"email": "x"}, "high", 9.0, shipgate.ReasonStatic},
		{"first matching rule wins", mustCompile(t, checkout()), map[string]any{"email": "a@example.com", "app_version": "1.0.0"}, "on", true, shipgate.ReasonTargetingMatch},
		{"second rule", mustCompile(t, checkout()), map[string]any{"email": "a@other.org", "app_version": "1.0.0"}, "off", false, shipgate.ReasonTargetingMatch},
		{"all conditions must hold", mustCompile(t, noRollout), map[string]any{"country": "NL", "seats": 2, "targetingKey": "u1"}, "off", false, shipgate.ReasonDefault},
		{"default", mustCompile(t, noRollout), map[string]any{}, "off", false, shipgate.ReasonDefault},
		{"disabled serves safe", mustCompile(t, killed), map[string]any{"email": "a@example.com"}, "off", false, shipgate.ReasonDisabled},
		{"disabled needs no targeting key", mustCompile(t, killed), nil, "off", false, shipgate.ReasonDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := flags.Evaluate(tc.f, tc.ctx)
			if r.Variant != tc.variant || r.Value != tc.value || r.Reason != tc.reason || r.ErrorCode != "" {
				t.Fatalf("got %+v, want variant %s value %v reason %s", r, tc.variant, tc.value, tc.reason)
			}
		})
	}
	// A rule's rollout and the flag's rollout both give SPLIT.
	f := mustCompile(t, checkout())
	for _, ctx := range []map[string]any{
		{"targetingKey": "user-1"},
		{"targetingKey": "user-1", "country": "BE", "seats": 12},
	} {
		r := flags.Evaluate(f, ctx)
		if r.Reason != shipgate.ReasonSplit || (r.Variant != "on" && r.Variant != "off") || r.Value != (r.Variant == "on") {
			t.Fatalf("%v: %+v", ctx, r)
		}
	}
}

func TestErrors(t *testing.T) {
	f := mustCompile(t, checkout())
	byTenant := checkout()
	byTenant.Rollout.By = "tenant"
	tenant := mustCompile(t, byTenant)
	for _, tc := range []struct {
		name string
		f    *flags.Flag
		ctx  map[string]any
		code string
		msg  string
	}{
		{"not found", nil, nil, shipgate.FlagErrNotFound, "flag not found"},
		{"rollout without targeting key", f, map[string]any{"email": "a@b.c"}, shipgate.FlagErrTargetingKeyMissing, "needs a targetingKey"},
		{"empty targeting key", f, map[string]any{"targetingKey": ""}, shipgate.FlagErrTargetingKeyMissing, "needs a targetingKey"},
		{"targeting key not a string", f, map[string]any{"targetingKey": 7}, shipgate.FlagErrInvalidContext, "targetingKey must be a string"},
		{"rollout attribute missing", tenant, map[string]any{"targetingKey": "u"}, shipgate.FlagErrInvalidContext, `by attribute "tenant", which the context lacks`},
		{"rollout attribute not hashable", tenant, map[string]any{"tenant": []any{"a"}}, shipgate.FlagErrInvalidContext, "must be a string or a number"},
		{"huge attribute", f, map[string]any{"email": strings.Repeat("a", flags.MaxContextString+1)}, shipgate.FlagErrInvalidContext, `attribute "email" is longer than 4096 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := flags.Evaluate(tc.f, tc.ctx)
			if r.Reason != shipgate.ReasonError || r.ErrorCode != tc.code || !strings.Contains(r.ErrorMessage, tc.msg) || r.Value != nil || r.Variant != "" {
				t.Fatalf("got %+v, want %s with %q", r, tc.code, tc.msg)
			}
		})
	}
}

func TestCompileRefusesBadDefinitions(t *testing.T) {
	bad := checkout()
	bad.Rollout.Split[0].Percent = 20
	bad.Rules[0].When[0].Value = "(unclosed"
	_, err := flags.Compile(bad)
	var verr *shipgate.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 2 || shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "flag.rollout.split: the percentages sum to 110, not 100") ||
		!strings.Contains(err.Error(), "flag.rules[0].when[0].value: the regex does not compile") {
		t.Fatalf("err = %v", err)
	}
}

// TestBucketGolden pins the hash: SDK-side users and other processes
// reproduce these values from docs/flags.md (they were checked there with
// Python's hashlib), so they must never change.
func TestBucketGolden(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		want       int
	}{
		{"new-checkout", "user-1", 8034},
		{"new-checkout", "user-2", 877},
		{"new-checkout", "", 4970},
		{"other-flag", "user-1", 3014},
		{"new-checkout", "42", 3045},
	} {
		if got := flags.Bucket(tc.key, tc.value); got != tc.want {
			t.Errorf("Bucket(%q, %q) = %d, want %d", tc.key, tc.value, got, tc.want)
		}
	}
	// A number attribute hashes as its decimal form.
	def := checkout()
	def.Rules = nil
	f := mustCompile(t, def)
	for _, n := range []any{42, 42.0, int64(42), json.Number("42")} {
		a := flags.Evaluate(f, map[string]any{"targetingKey": "42"})
		byNum := def
		byNum.Rollout = &shipgate.FlagRollout{By: "n", Split: def.Rollout.Split}
		b := flags.Evaluate(mustCompile(t, byNum), map[string]any{"n": n})
		if a.Variant != b.Variant {
			t.Fatalf("%T 42 got %s, the string got %s", n, b.Variant, a.Variant)
		}
	}
}

// TestStickiness: the same key always gets the same variant, and raising a
// rollout's percentage only moves callers from off to on, never back.
func TestStickiness(t *testing.T) {
	split := func(p float64) *flags.Flag {
		def := checkout()
		def.Rules = nil
		def.Rollout.Split = []shipgate.FlagSplit{{Variant: "on", Percent: p}, {Variant: "off", Percent: 100 - p}}
		return mustCompile(t, def)
	}
	ten, twenty := split(10), split(20)
	for i := range 5000 {
		ctx := map[string]any{"targetingKey": fmt.Sprintf("user-%d", i)}
		a, b := flags.Evaluate(ten, ctx), flags.Evaluate(ten, ctx)
		if a != b {
			t.Fatalf("%v: %+v then %+v", ctx, a, b)
		}
		if a.Variant == "on" && flags.Evaluate(twenty, ctx).Variant != "on" {
			t.Fatalf("%v was on at 10%% and off at 20%%", ctx)
		}
	}
}

// TestDistribution: over 100,000 keys a 10/90 split gives "on" to a share
// whose deviation from 10% stays within 5 standard deviations of the
// binomial (σ = √(n·p·(1−p)) ≈ 95): a correct hash fails this about once
// in 3.5 million runs, and the keys are fixed, so the test is
// deterministic. A chi-square test over the 10,000 buckets checks they
// are uniform too.
func TestDistribution(t *testing.T) {
	def := checkout()
	def.Rules = nil
	f := mustCompile(t, def)
	const n = 100_000
	on := 0
	counts := make([]int, 100) // bucket/100: percent slices
	for i := range n {
		key := fmt.Sprintf("user-%d", i)
		if flags.Evaluate(f, map[string]any{"targetingKey": key}).Variant == "on" {
			on++
		}
		counts[flags.Bucket("new-checkout", key)/100]++
	}
	sigma := math.Sqrt(n * 0.1 * 0.9)
	if dev := math.Abs(float64(on) - n*0.1); dev > 5*sigma {
		t.Fatalf("on = %d of %d, %.1fσ from 10%%", on, n, dev/sigma)
	}
	// Chi-square over 100 equal slices, 99 degrees of freedom: the 99.99th
	// percentile is about 157.
	chi := 0.0
	exp := float64(n) / 100
	for _, c := range counts {
		chi += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi > 157 {
		t.Fatalf("chi-square over 100 slices = %.1f > 157: buckets not uniform", chi)
	}
	t.Logf("on = %d (%.3f%%), chi-square = %.1f", on, float64(on)*100/n, chi)
}

func BenchmarkEvaluate(b *testing.B) {
	f := mustCompile(b, checkout())
	ctx := map[string]any{
		"targetingKey": "user-12345",
		"email":        "ann@customer.org",
		"app_version":  "2.4.1",
		"country":      "NL",
		"seats":        4.0,
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := flags.Evaluate(f, ctx); r.Reason != shipgate.ReasonSplit {
			b.Fatal(r)
		}
	}
}

// BenchmarkEvaluateRuleRollout takes the longest path of the same flag:
// every condition is evaluated (a pre-release version, which allocates its
// identifiers) and the third rule's rollout hashes.
func BenchmarkEvaluateRuleRollout(b *testing.B) {
	f := mustCompile(b, checkout())
	ctx := map[string]any{
		"targetingKey": "user-12345",
		"email":        "ann@customer.org",
		"app_version":  "2.4.1-rc.1",
		"country":      "NL",
		"seats":        40.0,
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := flags.Evaluate(f, ctx); r.Reason != shipgate.ReasonSplit {
			b.Fatal(r)
		}
	}
}

// BenchmarkEvaluateKilled is a killed flag: what every caller gets during
// an incident.
func BenchmarkEvaluateKilled(b *testing.B) {
	def := checkout()
	def.Disabled = true
	f := mustCompile(b, def)
	ctx := map[string]any{"targetingKey": "user-12345"}
	b.ReportAllocs()
	for b.Loop() {
		if r := flags.Evaluate(f, ctx); r.Reason != shipgate.ReasonDisabled {
			b.Fatal(r)
		}
	}
}

// TestConcurrentEvaluate: a compiled flag is shared by every request; run
// with -race.
func TestConcurrentEvaluate(t *testing.T) {
	f := mustCompile(t, checkout())
	want := flags.Evaluate(f, map[string]any{"targetingKey": "user-7", "email": "a@example.com"})
	done := make(chan flags.Result, 8)
	for range 8 {
		go func() {
			var r flags.Result
			for range 200 {
				r = flags.Evaluate(f, map[string]any{"targetingKey": "user-7", "email": "a@example.com"})
			}
			done <- r
		}()
	}
	for range 8 {
		if r := <-done; r != want {
			t.Fatalf("got %+v, want %+v", r, want)
		}
	}
}

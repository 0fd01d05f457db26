package shipgate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

// worstPattern is the most expensive pattern shape validation accepts:
// matching costs time in proportion to the value's length times the size
// of the compiled program, and this one stays just under the bound.
const worstPattern = `[\pL\pN]*(?:\pL{980})`

// TestInputValueBounds: a value above 64 KiB, or values adding up to more
// than 256 KiB (plain and secret together), are refused naming the limit.
// Before, values had no bound at all and a 1 MB value was matched against
// a costly pattern inside the write transaction.
func TestInputValueBounds(t *testing.T) {
	max := strings.Repeat("a", shipgate.MaxInputValueBytes)
	if err := shipgate.ValidateInputs(map[string]string{"a": max}, nil); err != nil {
		t.Fatalf("a value of exactly 64 KiB refused: %v", err)
	}
	err := shipgate.ValidateInputs(map[string]string{"a": max + "b"}, nil)
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `input "a" is 65537 bytes; an input value may be at most 64 KiB (65536 bytes)`) {
		t.Fatalf("a value over 64 KiB: %v", err)
	}
	five := map[string]string{}
	for i := range 5 {
		five[fmt.Sprintf("i%d", i)] = max[:60<<10]
	}
	err = shipgate.ValidateInputs(five, nil)
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "the input values of this release add up to 307200 bytes; together (plain and secret) they may be at most 256 KiB (262144 bytes)") {
		t.Fatalf("values over 256 KiB together: %v", err)
	}
	// Secret values count against the same limits, and are never shown.
	plain := map[string]string{"a": max[:60<<10], "b": max[:60<<10], "c": max[:60<<10], "d": max[:60<<10]}
	err = shipgate.ValidateInputSizes(plain, map[string]string{"pw": max[:20<<10]})
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "add up to 266240 bytes") {
		t.Fatalf("secret values are not counted: %v", err)
	}
	err = shipgate.ValidateInputSizes(nil, map[string]string{"pw": max + "SECRET"})
	if err == nil || !strings.Contains(err.Error(), `secret input "pw" is 65542 bytes`) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("a secret value over 64 KiB: %v", err)
	}
}

// TestInputPatternComplexity: patterns whose compiled program is larger
// than the bound, or longer than 1,024 bytes, are refused at apply; the
// patterns people write (emails, semver, ticket ids, DNS names) are far
// below it.
func TestInputPatternComplexity(t *testing.T) {
	for _, p := range []string{
		`[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}`,
		`(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?`,
		`[A-Z]{2,10}-[0-9]{1,6}`,
		`[0-9a-f]{64}`,
		`[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*`,
		worstPattern,
	} {
		if err := inputsSpec([]shipgate.InputDecl{{Name: "a", Pattern: p}}, nil).Validate(); err != nil {
			t.Errorf("%s refused: %v", p, err)
		}
	}
	for _, c := range []struct{ pattern, want string }{
		// The 21-byte pattern of the finding.
		{`[\pL\pN]*(?:\pL{999})`, `the pattern of input "a" is too complex: it compiles to 1005 instructions, more than 1000`},
		{`[a-z]{600}-[0-9]{600}`, "more than 1000"},
		{strings.Repeat("a", 1025), `the pattern of input "a" is 1025 bytes, longer than 1024`},
	} {
		err := inputsSpec([]shipgate.InputDecl{{Name: "a", Pattern: c.pattern}}, nil).Validate()
		verr, ok := err.(*shipgate.ValidationError)
		if !ok || verr.Problems[0].Path != "spec.inputs[0].pattern" || !strings.Contains(verr.Problems[0].Message, c.want) {
			t.Errorf("%.40s: %v, want …%s…", c.pattern, err, c.want)
		}
	}
}

// BenchmarkResolveInputsWorstPattern: the slowest check a release can ask
// for: a value of the largest size against the costliest accepted pattern.
func BenchmarkResolveInputsWorstPattern(b *testing.B) {
	decls := []shipgate.InputDecl{{Name: "a", Pattern: worstPattern}}
	v := strings.Repeat("x", shipgate.MaxPatternedInputBytes-980) + strings.Repeat("y", 980)
	in := map[string]string{"a": v}
	if _, _, err := shipgate.ResolveInputs(decls, in, nil); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		shipgate.ResolveInputs(decls, in, nil)
	}
}

// A value checked against a pattern is at most MaxPatternedInputBytes,
// plain or secret (the message says so and never shows a secret); a value
// of an input without a pattern may be longer.
func TestPatternedInputValueBound(t *testing.T) {
	decls := []shipgate.InputDecl{{Name: "ticket", Pattern: "[A-Z]+-[0-9]+"}, {Name: "notes"}, {Name: "token", Secret: true, Pattern: "[a-z]+"}}
	long := strings.Repeat("A", shipgate.MaxPatternedInputBytes) + "-1"
	if _, _, err := shipgate.ResolveInputs(decls, map[string]string{"ticket": long}, nil); err == nil || !strings.Contains(err.Error(), "may be at most 4 KiB") {
		t.Fatalf("long patterned value: %v", err)
	}
	if _, _, err := shipgate.ResolveInputs(decls, map[string]string{"ticket": "OPS-1", "notes": strings.Repeat("n", 32<<10)}, nil); err != nil {
		t.Fatalf("long value without a pattern: %v", err)
	}
	secret := strings.Repeat("s", shipgate.MaxPatternedInputBytes+1)
	err := shipgate.CheckSecretInputs(decls, map[string]string{"token": secret})
	if err == nil || !strings.Contains(err.Error(), "may be at most 4 KiB") || strings.Contains(err.Error(), "sss") {
		t.Fatalf("long secret: %v", err)
	}
	if err := shipgate.CheckSecretInputs(decls, map[string]string{"token": strings.Repeat("s", shipgate.MaxPatternedInputBytes)}); err != nil {
		t.Fatalf("4 KiB secret: %v", err)
	}
	// Five patterned values of 4 KiB: each within its bound, together not.
	var many []shipgate.InputDecl
	vals := map[string]string{}
	for i := range 5 {
		name := fmt.Sprintf("id%d", i)
		many = append(many, shipgate.InputDecl{Name: name, Pattern: "[a-z]+"})
		vals[name] = strings.Repeat("a", shipgate.MaxPatternedInputBytes)
	}
	if _, _, err := shipgate.ResolveInputs(many, vals, nil); err == nil || !strings.Contains(err.Error(), "together they may be at most 16 KiB") {
		t.Fatalf("20 KiB of patterned values: %v", err)
	}
	delete(vals, "id4")
	if _, _, err := shipgate.ResolveInputs(many, vals, nil); err != nil {
		t.Fatalf("16 KiB of patterned values: %v", err)
	}
}

// Defaults count: a list of declarations whose defaults add up to more
// than 64 KiB is refused at apply, and a release whose values with the
// defaults filled in exceed the per-release bound is refused at create
// (a reviewer's 100 inputs of 4 KiB defaults made a 400 KiB release).
func TestInputDefaultsAreBounded(t *testing.T) {
	def := strings.Repeat("x", 4096)
	var decls []shipgate.InputDecl
	for i := range 17 {
		decls = append(decls, shipgate.InputDecl{Name: fmt.Sprintf("in%d", i), Default: &def})
	}
	err := inputsSpec(decls, nil).Validate()
	if err == nil || !strings.Contains(err.Error(), "together they may be at most 64 KiB") {
		t.Fatalf("17 defaults of 4 KiB: %v", err)
	}
	// Past validation (declarations from an older store), resolving still
	// keeps the release within its bound.
	var many []shipgate.InputDecl
	for i := range 70 {
		many = append(many, shipgate.InputDecl{Name: fmt.Sprintf("in%d", i), Default: &def})
	}
	if _, _, err := shipgate.ResolveInputs(many, nil, nil); err == nil || !strings.Contains(err.Error(), "256 KiB") {
		t.Fatalf("70 defaults of 4 KiB resolved: %v", err)
	}
	if _, _, err := shipgate.ResolveInputs(decls[:16], nil, nil); err != nil {
		t.Fatalf("16 defaults of 4 KiB: %v", err)
	}
}

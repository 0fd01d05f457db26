package shipgate

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
)

// InputDecl declares one release input a service accepts. A service file
// lists them under spec.inputs, and an environment may add or replace them
// under its own inputs (see ServiceSpec.EffectiveInputs). Releases are
// checked against the declarations when they are created, so a typo such as
// --input greting=hi is refused instead of being frozen into an approved
// release while the step sees an empty $SHIPGATE_INPUT_GREETING.
type InputDecl struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Required inputs must be given at release create; they never have a
	// default (one of the two would be meaningless).
	Required bool `json:"required,omitempty"`
	// Default fills an optional input that is not given. The filled value
	// is frozen into the release, so its digest covers it and a later change
	// of the default never changes an approved release. nil: no default (an
	// empty string is a default).
	Default *string `json:"default,omitempty"`
	// Secret inputs must be given as secret inputs (encrypted at rest, kept
	// out of the API and logs), and plain inputs may not be. A secret has
	// no default: a value written in a service file is no secret.
	Secret bool `json:"secret,omitempty"`
	// Pattern is a Go (RE2) regular expression the whole value must match:
	// it is anchored at both ends, so "[a-z]+" refuses "eu-1".
	Pattern string `json:"pattern,omitempty"`
}

// Bounds of an input declaration's text.
const (
	maxInputNameLen        = 63
	maxInputDescriptionLen = 500
	maxInputPatternLen     = 1024
	maxInputDefaultLen     = 4096
	maxInputDefaultsTotal  = 64 << 10 // of one list of declarations
	// maxInputPatternInsts bounds the compiled program of a pattern.
	// Matching (RE2, no backtracking) takes time in proportion to the
	// value's length times the program's size, so both are bounded: the
	// patterns people write are far smaller than this (an email 13
	// instructions, semver 65, a DNS name 262), and a value checked
	// against a pattern is at most MaxPatternedInputBytes
	// (docs/benchmarks.md has the worst case).
	maxInputPatternInsts = 1000
)

// MaxPatternedInputBytes bounds a value that is matched against a declared
// pattern: patterns describe short structured values (ticket ids,
// versions, addresses), and a longer value would only make the match
// slower. Values of inputs without a pattern may be as long as
// MaxInputValueBytes.
const MaxPatternedInputBytes = 4 << 10

// MaxPatternedInputsBytes bounds the values of a release that are matched
// against patterns together (the plain ones, and the secret ones, each),
// so that the worst release costs a few matches of the worst pattern, not
// one per input.
const MaxPatternedInputsBytes = 16 << 10

// patternedBytes adds up the values in vals whose declaration (secret or
// not, as secret says) has a pattern.
func patternedBytes(decls []InputDecl, vals map[string]string, secret bool) int {
	n := 0
	for i := range decls {
		if d := &decls[i]; d.Pattern != "" && d.Secret == secret {
			if v, ok := vals[d.Name]; ok {
				n += len(v)
			}
		}
	}
	return n
}

// Bounds of input values, plain and secret alike: steps see them as
// environment variables, and they are matched against patterns and frozen
// into the release's content and audit event.
const (
	// MaxInputValueBytes bounds one input's value.
	MaxInputValueBytes = 64 << 10
	// MaxInputsTotalBytes bounds the values of all of a release's inputs
	// together, plain and secret.
	MaxInputsTotalBytes = 256 << 10
)

// ValidateInputSizes refuses a value longer than MaxInputValueBytes and
// values adding up to more than MaxInputsTotalBytes, plain and secret
// together. A secret's value is never put in the error.
func ValidateInputSizes(plain, secret map[string]string) error {
	total := 0
	for _, set := range []struct {
		kind   string
		values map[string]string
	}{{"input", plain}, {"secret input", secret}} {
		for _, k := range sortedKeys(set.values) {
			n := len(set.values[k])
			if n > MaxInputValueBytes {
				return Errorf(EINVALID, "%s %q is %d bytes; an input value may be at most 64 KiB (%d bytes)", set.kind, k, n, MaxInputValueBytes)
			}
			total += n
		}
	}
	if total > MaxInputsTotalBytes {
		return Errorf(EINVALID, "the input values of this release add up to %d bytes; together (plain and secret) they may be at most 256 KiB (%d bytes)", total, MaxInputsTotalBytes)
	}
	return nil
}

// Matches reports whether value matches the declaration's pattern as a
// whole; a declaration without a pattern matches anything. A pattern that
// does not compile matches nothing (validation refuses such declarations).
func (d *InputDecl) Matches(value string) bool {
	if d.Pattern == "" {
		return true
	}
	re, err := compileInputPattern(d.Pattern)
	return err == nil && re.MatchString(value)
}

// compileInputPattern compiles a declared pattern so that it matches whole
// values. The pattern is compiled alone first: its error then quotes the
// pattern as the user wrote it (not the anchoring added here), and a
// pattern such as "x)|(?:y", which compiles only once wrapped, cannot
// break out of the anchoring.
func compileInputPattern(p string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

// inputPatternSize is the number of instructions p compiles to, as the
// matcher runs it (anchored).
func inputPatternSize(p string) (int, error) {
	re, err := syntax.Parse(`^(?:`+p+`)$`, syntax.Perl)
	if err != nil {
		return 0, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, err
	}
	return len(prog.Inst), nil
}

// validInputName is the rule for input names: they become environment
// variables SHIPGATE_INPUT_<NAME>, so letters, digits and '_', not starting
// with a digit.
func validInputName(s string) bool {
	if s == "" || len(s) > maxInputNameLen {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// inputs checks one list of declarations found at path ("spec.inputs",
// "spec.environments[1].inputs").
func (v *validator) inputs(path string, decls []InputDecl) {
	seen := map[string]string{}
	defaults := 0
	for i, d := range decls {
		if d.Default != nil {
			defaults += len(*d.Default)
		}
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case d.Name == "":
			v.add(p+".name", "an input needs a name")
		case !validInputName(d.Name):
			v.add(p+".name", "input name %q is not valid: use up to %d letters, digits and '_', not starting with a digit (steps see it as SHIPGATE_INPUT_<NAME>)", d.Name, maxInputNameLen)
		default:
			u := strings.ToUpper(d.Name)
			if prev, dup := seen[u]; dup {
				if prev == d.Name {
					v.add(p+".name", "input %q is declared twice", d.Name)
				} else {
					v.add(p+".name", "inputs %q and %q differ only in case, so both would be SHIPGATE_INPUT_%s", prev, d.Name, u)
				}
			}
			seen[u] = d.Name
		}
		if err := ValidateLine("an input description", d.Description, maxInputDescriptionLen); err != nil {
			v.add(p+".description", "%s", ErrorMessage(err))
		}
		if d.Required && d.Default != nil {
			v.add(p+".default", "input %q is required and has a default; a required input must be given, so drop one of the two", d.Name)
		}
		if d.Secret && d.Default != nil {
			v.add(p+".default", "input %q is secret and has a default; a value written in a service file is no secret, so secrets have no default", d.Name)
		}
		if d.Default != nil {
			if len(*d.Default) > maxInputDefaultLen || strings.ContainsRune(*d.Default, 0) {
				v.add(p+".default", "the default of input %q must be at most %d bytes without NUL characters", d.Name, maxInputDefaultLen)
			}
		}
		if d.Pattern != "" {
			if len(d.Pattern) > maxInputPatternLen {
				v.add(p+".pattern", "the pattern of input %q is %d bytes, longer than %d", d.Name, len(d.Pattern), maxInputPatternLen)
			} else if _, err := compileInputPattern(d.Pattern); err != nil {
				v.add(p+".pattern", "the pattern of input %q is not a valid Go (RE2) regular expression: %s", d.Name, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			} else if n, _ := inputPatternSize(d.Pattern); n > maxInputPatternInsts {
				v.add(p+".pattern", "the pattern of input %q is too complex: it compiles to %d instructions, more than %d (matching takes time in proportion to the value's length times this size); use smaller repeat counts such as {1,64} instead of {999}", d.Name, n, maxInputPatternInsts)
			} else if d.Default != nil && !d.Matches(*d.Default) {
				v.add(p+".default", "the default %q of input %q does not match its pattern %q (the whole value must match)", *d.Default, d.Name, d.Pattern)
			}
		}
	}
	if defaults > maxInputDefaultsTotal {
		v.add(path, "the defaults of these inputs add up to %d bytes; together they may be at most 64 KiB (%d bytes), since every release carries them", defaults, maxInputDefaultsTotal)
	}
}

// specInputs checks the service's declarations and each environment's,
// and that an environment's additions do not collide in case with the
// service's names.
func (v *validator) specInputs(s *ServiceSpec) {
	v.inputs("spec.inputs", s.Inputs)
	for i := range s.Environments {
		e := &s.Environments[i]
		p := fmt.Sprintf("spec.environments[%d].inputs", i)
		v.inputs(p, e.Inputs)
		for j, d := range e.Inputs {
			for _, sd := range s.Inputs {
				if sd.Name != d.Name && strings.EqualFold(sd.Name, d.Name) {
					v.add(fmt.Sprintf("%s[%d].name", p, j), "input %q of environment %q differs only in case from the service's input %q; use the same spelling to override it", d.Name, e.Name, sd.Name)
				}
			}
		}
	}
}

// EffectiveInputs returns the input declarations that apply to releases to
// env. The merge rule: start from the service's list (spec.inputs); each
// input the environment declares replaces the service's input of the same
// name as a whole (fields are not merged one by one), or is added after the
// service's inputs if the service has no input of that name. An
// environment cannot remove a service input.
//
// nil means neither the service nor the environment declares inputs, so
// any input is accepted as before declarations existed; a non-nil empty
// list means none is allowed.
func (s *ServiceSpec) EffectiveInputs(env *Environment) []InputDecl {
	if s.Inputs == nil && (env == nil || env.Inputs == nil) {
		return nil
	}
	out := make([]InputDecl, 0, len(s.Inputs))
	out = append(out, s.Inputs...)
	if env == nil {
		return out
	}
	for _, d := range env.Inputs {
		replaced := false
		for i := range out {
			if out[i].Name == d.Name {
				out[i], replaced = d, true
			}
		}
		if !replaced {
			out = append(out, d)
		}
	}
	return out
}

// ResolveInputs checks the inputs of a new release against decls, the
// effective declarations (EffectiveInputs), and returns the plain inputs
// with the defaults of optional inputs that were not given filled in, and
// the names so filled (sorted). secrets names the secret inputs given; their
// values are checked by CheckSecretInputs, which needs them.
//
// It refuses, all problems in one EINVALID error: an input not declared
// (with the closest declared name, "did you mean"), a declared-secret input
// given as plain and a plain one given as secret, a missing required input,
// and a plain value that does not match its pattern.
//
// decls == nil means the service declares nothing: every input is accepted
// unchanged (see UndeclaredInputsWarning).
func ResolveInputs(decls []InputDecl, inputs map[string]string, secrets []string) (map[string]string, []string, error) {
	return resolveInputs(decls, inputs, secrets, true)
}

// ResolveInputsMatched is ResolveInputs for a caller that has already run
// ResolveInputs (and CheckSecretInputs) on the same declarations and
// values: everything is checked again except the values against their
// patterns, the one check whose cost grows with the values. The store
// uses it inside its write transaction, where matching a long value held
// every other writer, when the API has matched them outside it.
func ResolveInputsMatched(decls []InputDecl, inputs map[string]string, secrets []string) (map[string]string, []string, error) {
	return resolveInputs(decls, inputs, secrets, false)
}

func resolveInputs(decls []InputDecl, inputs map[string]string, secrets []string, match bool) (map[string]string, []string, error) {
	out := make(map[string]string, len(inputs))
	for k, v := range inputs {
		out[k] = v
	}
	if decls == nil {
		return out, nil, nil
	}
	byName := make(map[string]*InputDecl, len(decls))
	for i := range decls {
		byName[decls[i].Name] = &decls[i]
	}
	var problems []string
	if n := patternedBytes(decls, inputs, false); match && n > MaxPatternedInputsBytes {
		problems = append(problems, fmt.Sprintf("the input values checked against patterns add up to %d bytes; together they may be at most 16 KiB (%d bytes)", n, MaxPatternedInputsBytes))
	}
	for _, k := range sortedKeys(inputs) {
		d, ok := byName[k]
		switch {
		case !ok:
			problems = append(problems, unknownInput(k, decls))
		case d.Secret:
			problems = append(problems, fmt.Sprintf("input %q is declared secret: give it as a secret input (--secret-input %s=…), not as a plain one", k, k))
		case match && d.Pattern != "" && len(inputs[k]) > MaxPatternedInputBytes:
			problems = append(problems, fmt.Sprintf("input %q is %d bytes; a value checked against a pattern may be at most 4 KiB (%d bytes)", k, len(inputs[k]), MaxPatternedInputBytes))
		case match && !d.Matches(inputs[k]):
			problems = append(problems, fmt.Sprintf("input %q = %q does not match the pattern %q declared for it (the whole value must match)", k, clipValue(inputs[k]), d.Pattern))
		}
	}
	given := map[string]bool{}
	for _, k := range secrets {
		given[k] = true
	}
	sorted := append([]string(nil), secrets...)
	sort.Strings(sorted)
	for _, k := range sorted {
		d, ok := byName[k]
		switch {
		case !ok:
			problems = append(problems, unknownInput(k, decls))
		case !d.Secret:
			problems = append(problems, fmt.Sprintf("input %q is not declared secret: give it as a plain input (--input %s=…), or declare it with secret: true", k, k))
		}
	}
	var defaulted []string
	for _, d := range decls {
		_, plain := inputs[d.Name]
		if plain || given[d.Name] {
			continue
		}
		switch {
		case d.Required:
			how := "--input"
			if d.Secret {
				how = "--secret-input"
			}
			msg := fmt.Sprintf("input %q is required: give it with %s %s=…", d.Name, how, d.Name)
			if d.Description != "" {
				msg += " (" + d.Description + ")"
			}
			problems = append(problems, msg)
		case d.Default != nil:
			out[d.Name] = *d.Default
			defaulted = append(defaulted, d.Name)
		}
	}
	if problems != nil {
		return nil, nil, Errorf(EINVALID, "%s", strings.Join(problems, "; "))
	}
	// The bounds hold for what the release carries, defaults included.
	if err := ValidateInputSizes(out, nil); err != nil {
		return nil, nil, err
	}
	sort.Strings(defaulted)
	return out, defaulted, nil
}

// CheckSecretInputs checks the values of secret inputs against their
// declared patterns without ever putting a value in the error. Names that
// are not declared secret are left to ResolveInputs.
func CheckSecretInputs(decls []InputDecl, secrets map[string]string) error {
	var problems []string
	if n := patternedBytes(decls, secrets, true); n > MaxPatternedInputsBytes {
		problems = append(problems, fmt.Sprintf("the secret input values checked against patterns add up to %d bytes; together they may be at most 16 KiB (%d bytes)", n, MaxPatternedInputsBytes))
	}
	for _, k := range sortedKeys(secrets) {
		for i := range decls {
			d := &decls[i]
			if d.Name != k || !d.Secret {
				continue
			}
			if d.Pattern != "" && len(secrets[k]) > MaxPatternedInputBytes {
				problems = append(problems, fmt.Sprintf("secret input %q is %d bytes; a value checked against a pattern may be at most 4 KiB (%d bytes)", k, len(secrets[k]), MaxPatternedInputBytes))
			} else if !d.Matches(secrets[k]) {
				problems = append(problems, fmt.Sprintf("secret input %q does not match the pattern %q declared for it (the whole value must match; the value is not shown)", k, d.Pattern))
			}
		}
	}
	if problems != nil {
		return Errorf(EINVALID, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// UndeclaredInputsWarning is what a person creating a release with inputs
// for a service that declares none is told: the inputs are accepted, as
// before declarations existed, but nothing checks them. "" when there is
// nothing to warn about.
func UndeclaredInputsWarning(service string, decls []InputDecl, inputs map[string]string, secrets []string) string {
	if decls != nil || len(inputs)+len(secrets) == 0 {
		return ""
	}
	names := append(sortedKeys(inputs), secrets...)
	sort.Strings(names)
	return fmt.Sprintf("service %q declares no inputs, so %s %s not checked (a typo reaches the steps as an empty variable); declare them under spec.inputs in its service file",
		service, quoteList(names), map[bool]string{true: "is", false: "are"}[len(names) == 1])
}

// unknownInput words the refusal of an input that is not declared, with the
// closest declared name if one is close, else the declared names.
func unknownInput(name string, decls []InputDecl) string {
	if s := closestInput(name, decls); s != "" {
		return fmt.Sprintf("unknown input %q; did you mean %q?", name, s)
	}
	if len(decls) == 0 {
		return fmt.Sprintf("unknown input %q: this service declares no inputs for this environment (inputs: [])", name)
	}
	names := make([]string, len(decls))
	for i, d := range decls {
		names[i] = d.Name
	}
	return fmt.Sprintf("unknown input %q: the declared inputs are %s", name, quoteList(names))
}

// closestInput finds a declared name that name is likely a typo of: the
// same name in another case, or one at most two edits away (one, for
// names of up to three letters).
func closestInput(name string, decls []InputDecl) string {
	best, bestD := "", 3
	if len(name) <= 3 {
		bestD = 2
	}
	for _, d := range decls {
		if strings.EqualFold(d.Name, name) {
			return d.Name
		}
		if dist := EditDistance(strings.ToLower(name), strings.ToLower(d.Name)); dist < bestD {
			best, bestD = d.Name, dist
		}
	}
	return best
}

func clipValue(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/shipgate/shipgate"
)

// unsafe are the builtins a gate may not call: each reaches outside the
// input document, so a decision using it could not be replayed. The
// schema builtins follow a schema's $ref over HTTP and to local files
// (past the egress policy); ECDSA JWT signing is random; x509 chain
// verification reads the wall clock, not the decision's time.
var unsafe = map[string]struct{}{
	"http.send": {}, "net.lookup_ip_addr": {}, "opa.runtime": {}, "rand.intn": {},
	"uuid.rfc4122": {}, "uuid.parse": {}, "crypto.x509.parse_and_verify_certificates_with_options": {},
	"crypto.x509.parse_and_verify_certificates": {}, "json.match_schema": {}, "json.verify_schema": {},
	"io.jwt.encode_sign": {}, "io.jwt.encode_sign_raw": {},
}

// EvalTimeout bounds one evaluation; running out of it is an evaluation
// error, which blocks.
const EvalTimeout = 10 * time.Second

// Compiled is a bundle ready to evaluate.
type Compiled struct {
	bundle   shipgate.PolicyBundle
	compiler *ast.Compiler
}

// Bundle returns what was compiled.
func (c *Compiled) Bundle() shipgate.PolicyBundle { return c.bundle }

// CompileError lists a bundle's problems, each "file:line: message".
type CompileError struct {
	Problems []string
}

func (e *CompileError) Error() string { return e.Unwrap().Error() }

// Unwrap gives the code: invalid.
func (e *CompileError) Unwrap() error {
	return shipgate.Errorf(shipgate.EINVALID, "policy does not compile:\n  %s", strings.Join(e.Problems, "\n  "))
}

// Parse checks one module on its own: its Rego (v1 syntax) and that its
// package is shipgate.<name>. Compile checks the bundle as a whole.
func Parse(name, filename, source string) (*ast.Module, error) {
	if err := shipgate.ValidatePolicyName(name); err != nil {
		return nil, err
	}
	if len(source) > shipgate.MaxPolicySource {
		return nil, shipgate.Errorf(shipgate.ETOOLARGE, "%s: policy is %d bytes, more than the limit of %d", filename, len(source), shipgate.MaxPolicySource)
	}
	m, err := ast.ParseModuleWithOpts(filename, source, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, &CompileError{Problems: problems(err)}
	}
	if m == nil {
		return nil, &CompileError{Problems: []string{filename + ":1: empty module: a policy starts with `package shipgate." + name + "`"}}
	}
	if want := "data.shipgate." + name; m.Package.Path.String() != want {
		return nil, &CompileError{Problems: []string{fmt.Sprintf("%s:%d: package is %s; policy %q must be package shipgate.%s",
			filename, m.Package.Location.Row, strings.TrimPrefix(m.Package.Path.String(), "data."), name, name)}}
	}
	return m, nil
}

// NameOf reads the policy name from a module's package line
// (package shipgate.<name>), for a file applied without a name.
func NameOf(filename, source string) (string, error) {
	if strings.TrimSpace(source) == "" {
		return "", &CompileError{Problems: []string{filename + ":1: empty module: a policy starts with `package shipgate.<name>`"}}
	}
	m, err := ast.ParseModuleWithOpts(filename, source, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return "", &CompileError{Problems: problems(err)}
	}
	if m == nil {
		return "", &CompileError{Problems: []string{filename + ":1: empty module: a policy starts with `package shipgate.<name>`"}}
	}
	p := m.Package.Path
	if len(p) != 3 || p[1].String() != `"shipgate"` {
		return "", &CompileError{Problems: []string{fmt.Sprintf("%s:%d: package is %s; a policy must be package shipgate.<name>",
			filename, m.Package.Location.Row, strings.TrimPrefix(p.String(), "data."))}}
	}
	var name string
	if err := json.Unmarshal([]byte(p[2].String()), &name); err != nil {
		return "", err
	}
	if strings.HasSuffix(name, "_test") {
		// --policy-dir skips *_test.rego; `policy apply -f pol/*.rego` must
		// not store a test module as a policy instead.
		return "", &CompileError{Problems: []string{fmt.Sprintf("%s:%d: package shipgate.%s is a Rego unit-test module: run it with `shipgate policy test DIR`; only policies are applied",
			filename, m.Package.Location.Row, name)}}
	}
	return name, shipgate.ValidatePolicyName(name)
}

// Compile compiles a bundle. Problems name file:line.
func Compile(b shipgate.PolicyBundle) (*Compiled, error) {
	mods := map[string]*ast.Module{}
	for _, m := range b.Modules {
		parsed, err := Parse(m.Name, m.Filename, m.Source)
		if err != nil {
			return nil, err
		}
		if _, dup := mods[m.Filename]; dup {
			return nil, shipgate.Errorf(shipgate.EINVALID, "two policies in one bundle have the file name %q", m.Filename)
		}
		mods[m.Filename] = parsed
	}
	c := ast.NewCompiler().WithUnsafeBuiltins(unsafe)
	if c.Compile(mods); c.Failed() {
		return nil, &CompileError{Problems: problems(c.Errors)}
	}
	return &Compiled{bundle: b, compiler: c}, nil
}

func problems(err error) []string {
	var errs ast.Errors
	if errors.As(err, &errs) {
		out := make([]string, 0, len(errs))
		for _, e := range errs {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// BundleDigest is the digest of a bundle's canonical JSON.
func BundleDigest(b shipgate.PolicyBundle) (string, []byte, error) {
	raw, err := Canonical(b)
	if err != nil {
		return "", nil, err
	}
	return Digest(raw), raw, nil
}

// Evaluate judges input (canonical JSON) at the time at, which is the
// only clock the policies see. Each policy's deny and warn messages are
// prefixed with its name; an evaluation error gives Result "error".
func (c *Compiled) Evaluate(ctx context.Context, input []byte, at time.Time) shipgate.PolicyResult {
	res := shipgate.PolicyResult{Result: shipgate.PolicyAllow, Deny: []string{}, Warn: []string{}}
	var doc any
	if err := json.Unmarshal(input, &doc); err != nil {
		return failed(res, fmt.Errorf("input: %w", err))
	}
	val, err := ast.InterfaceToValue(doc)
	if err != nil {
		return failed(res, fmt.Errorf("input: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	defer cancel()
	for _, m := range c.bundle.Modules {
		for _, set := range []string{"deny", "warn"} {
			msgs, err := c.query(ctx, "data.shipgate."+m.Name+"."+set, val, at)
			if err != nil {
				return failed(res, fmt.Errorf("%s: %w", m.Name, err))
			}
			for _, msg := range msgs {
				msg = clip(m.Name + ": " + msg)
				if set == "deny" {
					res.Deny = append(res.Deny, msg)
				} else {
					res.Warn = append(res.Warn, msg)
				}
			}
		}
	}
	res.Deny, res.Warn = tidy(res.Deny), tidy(res.Warn)
	if len(res.Deny) > 0 {
		res.Result = shipgate.PolicyDeny
	}
	return res
}

func failed(res shipgate.PolicyResult, err error) shipgate.PolicyResult {
	res.Result, res.Error = shipgate.PolicyError, clip(err.Error())
	return res
}

// query evaluates one rule; an undefined rule is an empty set. A rule
// that is not a set (or array) of messages is an error.
func (c *Compiled) query(ctx context.Context, ref string, input ast.Value, at time.Time) ([]string, error) {
	rs, err := rego.New(
		rego.Query(ref),
		rego.Compiler(c.compiler),
		rego.ParsedInput(input),
		rego.Time(at),
		rego.StrictBuiltinErrors(true),
		rego.UnsafeBuiltins(unsafe),
	).Eval(ctx)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil
	}
	var out []string
	switch v := rs[0].Expressions[0].Value.(type) {
	case []any:
		for _, x := range v {
			out = append(out, message(x))
		}
	default:
		return nil, fmt.Errorf("%s is %s, not a set of messages", strings.TrimPrefix(ref, "data."), kind(v))
	}
	return out, nil
}

func message(x any) string {
	if s, ok := x.(string); ok {
		return s
	}
	b, err := Canonical(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(b)
}

func kind(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return "a number"
}

func clip(s string) string {
	if len(s) <= shipgate.MaxPolicyMessage {
		return s
	}
	return strings.ToValidUTF8(s[:shipgate.MaxPolicyMessage], "") + "…"
}

func tidy(msgs []string) []string {
	slices.Sort(msgs)
	msgs = slices.Compact(msgs)
	if len(msgs) > shipgate.MaxPolicyMessages {
		msgs = append(msgs[:shipgate.MaxPolicyMessages], fmt.Sprintf("… and %d more", len(msgs)-shipgate.MaxPolicyMessages))
	}
	if msgs == nil {
		msgs = []string{}
	}
	return msgs
}

// ResultDigest is the digest of a result's canonical JSON: what replay
// compares.
func ResultDigest(r shipgate.PolicyResult) (string, []byte, error) {
	raw, err := Canonical(r)
	if err != nil {
		return "", nil, err
	}
	return Digest(raw), raw, nil
}

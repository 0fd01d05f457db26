package shipgate_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

func inputDefault(s string) *string { return &s }

// inputsSpec is a valid spec with the given declarations.
func inputsSpec(svc []shipgate.InputDecl, env []shipgate.InputDecl) *shipgate.ServiceSpec {
	return &shipgate.ServiceSpec{
		Name:         "web",
		Inputs:       svc,
		Environments: []shipgate.Environment{{Name: "staging"}, {Name: "production", Inputs: env}},
		Pipeline:     shipgate.Pipeline{Jobs: []shipgate.Job{{Name: "deploy", Steps: []shipgate.Step{{Run: "true"}}}}},
	}
}

func TestInputDeclarationsValidate(t *testing.T) {
	tests := []struct {
		name     string
		svc, env []shipgate.InputDecl
		path     string // "" = valid
		msg      string
	}{
		{"valid", []shipgate.InputDecl{{Name: "greeting", Default: inputDefault("hello"), Pattern: "[a-z]+"}, {Name: "db_password", Secret: true, Required: true}}, nil, "", ""},
		{"empty default is a default", []shipgate.InputDecl{{Name: "note", Default: inputDefault("")}}, nil, "", ""},
		{"bad name", []shipgate.InputDecl{{Name: "9lives"}}, nil, "spec.inputs[0].name", "not valid"},
		{"dash in name", []shipgate.InputDecl{{Name: "my-input"}}, nil, "spec.inputs[0].name", "not valid"},
		{"no name", []shipgate.InputDecl{{Description: "x"}}, nil, "spec.inputs[0].name", "needs a name"},
		{"duplicate", []shipgate.InputDecl{{Name: "a"}, {Name: "a"}}, nil, "spec.inputs[1].name", "declared twice"},
		{"duplicate in case", []shipgate.InputDecl{{Name: "region"}, {Name: "REGION"}}, nil, "spec.inputs[1].name", "differ only in case"},
		{"pattern does not compile", []shipgate.InputDecl{{Name: "a", Pattern: "[a-"}}, nil, "spec.inputs[0].pattern", "not a valid Go (RE2)"},
		// The error quotes the user's pattern, not the anchoring shipgate
		// adds around it.
		{"error names the pattern as written", []shipgate.InputDecl{{Name: "r", Pattern: "(["}}, nil, "spec.inputs[0].pattern", "missing closing ]: `[`"},
		// A pattern that only compiles once anchored would escape the
		// anchoring (^(?:x)|(?:y)$ matches anything starting with x).
		{"pattern that breaks out of the anchoring", []shipgate.InputDecl{{Name: "r", Pattern: "x)|(?:y"}}, nil, "spec.inputs[0].pattern", "not a valid Go (RE2)"},
		{"lookahead is not RE2", []shipgate.InputDecl{{Name: "a", Pattern: "(?=x)"}}, nil, "spec.inputs[0].pattern", "not a valid Go (RE2)"},
		{"default against pattern", []shipgate.InputDecl{{Name: "a", Pattern: "[a-z]+", Default: inputDefault("eu-1")}}, nil, "spec.inputs[0].default", "does not match its pattern"},
		{"secret with default", []shipgate.InputDecl{{Name: "a", Secret: true, Default: inputDefault("x")}}, nil, "spec.inputs[0].default", "secrets have no default"},
		{"required with default", []shipgate.InputDecl{{Name: "a", Required: true, Default: inputDefault("x")}}, nil, "spec.inputs[0].default", "required and has a default"},
		{"multi-line description", []shipgate.InputDecl{{Name: "a", Description: "x\ny"}}, nil, "spec.inputs[0].description", ""},
		{"environment duplicate", nil, []shipgate.InputDecl{{Name: "b"}, {Name: "b"}}, "spec.environments[1].inputs[1].name", "declared twice"},
		{"environment case clash", []shipgate.InputDecl{{Name: "region"}}, []shipgate.InputDecl{{Name: "Region"}}, "spec.environments[1].inputs[0].name", "differs only in case"},
		{"environment override is fine", []shipgate.InputDecl{{Name: "region"}}, []shipgate.InputDecl{{Name: "region", Required: true}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := inputsSpec(tt.svc, tt.env).Validate()
			if tt.path == "" {
				if err != nil {
					t.Fatalf("valid declarations refused: %v", err)
				}
				return
			}
			verr, ok := err.(*shipgate.ValidationError)
			if !ok || len(verr.Problems) == 0 {
				t.Fatalf("accepted: %v", err)
			}
			p := verr.Problems[0]
			if p.Path != tt.path || !strings.Contains(p.Message, tt.msg) {
				t.Fatalf("problem = %s: %s; want %s: …%s…", p.Path, p.Message, tt.path, tt.msg)
			}
		})
	}
}

func TestEffectiveInputs(t *testing.T) {
	svc := []shipgate.InputDecl{{Name: "greeting", Default: inputDefault("hello")}, {Name: "region", Pattern: "eu|us"}}
	env := []shipgate.InputDecl{{Name: "region", Required: true, Pattern: "eu"}, {Name: "ticket", Required: true}}
	s := inputsSpec(svc, env)
	staging, _ := s.Environment("staging")
	production, _ := s.Environment("production")
	if got := s.EffectiveInputs(staging); !reflect.DeepEqual(got, svc) {
		t.Fatalf("staging = %+v", got)
	}
	want := []shipgate.InputDecl{svc[0], env[0], env[1]} // replaced in place, added after
	if got := s.EffectiveInputs(production); !reflect.DeepEqual(got, want) {
		t.Fatalf("production = %+v, want %+v", got, want)
	}
	none := inputsSpec(nil, nil)
	if got := none.EffectiveInputs(&none.Environments[1]); got != nil {
		t.Fatalf("undeclared = %#v, want nil", got)
	}
	envOnly := inputsSpec(nil, []shipgate.InputDecl{})
	if got := envOnly.EffectiveInputs(&envOnly.Environments[1]); got == nil || len(got) != 0 {
		t.Fatalf("environment inputs: [] = %#v, want an empty declared list", got)
	}
	if got := envOnly.EffectiveInputs(&envOnly.Environments[0]); got != nil {
		t.Fatalf("the other environment = %#v, want nil", got)
	}
}

func TestResolveInputs(t *testing.T) {
	decls := []shipgate.InputDecl{
		{Name: "greeting", Default: inputDefault("hello"), Description: "what the app says"},
		{Name: "region", Required: true, Pattern: "eu|us"},
		{Name: "db_password", Secret: true},
		{Name: "api_key", Secret: true, Required: true},
	}
	tests := []struct {
		name      string
		decls     []shipgate.InputDecl
		inputs    map[string]string
		secrets   []string
		want      map[string]string
		defaulted []string
		err       string
	}{
		{"defaults fill", decls, map[string]string{"region": "eu"}, []string{"api_key"}, map[string]string{"region": "eu", "greeting": "hello"}, []string{"greeting"}, ""},
		{"given wins over default", decls, map[string]string{"region": "us", "greeting": "hi"}, []string{"api_key"}, map[string]string{"region": "us", "greeting": "hi"}, nil, ""},
		{"typo", decls, map[string]string{"region": "eu", "greting": "hi"}, []string{"api_key"}, nil, nil, `unknown input "greting"; did you mean "greeting"?`},
		{"other case", decls, map[string]string{"REGION": "eu"}, []string{"api_key"}, nil, nil, `unknown input "REGION"; did you mean "region"?`},
		{"nothing close", decls, map[string]string{"region": "eu", "colour": "red"}, []string{"api_key"}, nil, nil, `unknown input "colour": the declared inputs are "greeting", "region", "db_password", "api_key"`},
		{"none allowed", []shipgate.InputDecl{}, map[string]string{"x": "1"}, nil, nil, nil, `unknown input "x": this service declares no inputs`},
		{"required missing", decls, nil, []string{"api_key"}, nil, nil, `input "region" is required: give it with --input region=…`},
		{"required secret missing", decls, map[string]string{"region": "eu"}, nil, nil, nil, `input "api_key" is required: give it with --secret-input api_key=…`},
		{"pattern anchored", decls, map[string]string{"region": "eu-west"}, []string{"api_key"}, nil, nil, `input "region" = "eu-west" does not match the pattern "eu|us"`},
		{"secret given plain", decls, map[string]string{"region": "eu", "db_password": "x"}, []string{"api_key"}, nil, nil, `input "db_password" is declared secret`},
		{"plain given secret", decls, map[string]string{"region": "eu"}, []string{"api_key", "greeting"}, nil, nil, `input "greeting" is not declared secret`},
		{"unknown secret", decls, map[string]string{"region": "eu"}, []string{"api_key", "db_pasword"}, nil, nil, `unknown input "db_pasword"; did you mean "db_password"?`},
		{"undeclared accepts anything", nil, map[string]string{"greting": "hi"}, []string{"s"}, map[string]string{"greting": "hi"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, defaulted, err := shipgate.ResolveInputs(tt.decls, tt.inputs, tt.secrets)
			if tt.err != "" {
				if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want …%s…", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(defaulted, tt.defaulted) {
				t.Fatalf("= %v %v %v, want %v %v", got, defaulted, err, tt.want, tt.defaulted)
			}
		})
	}
	// Every problem at once, so one fix-up round is enough.
	_, _, err := shipgate.ResolveInputs(decls, map[string]string{"greting": "hi"}, nil)
	if msg := shipgate.ErrorMessage(err); !strings.Contains(msg, "greting") || !strings.Contains(msg, `"region" is required`) || !strings.Contains(msg, `"api_key" is required`) {
		t.Fatalf("all problems: %v", err)
	}
}

func TestCheckSecretInputs(t *testing.T) {
	decls := []shipgate.InputDecl{{Name: "token", Secret: true, Pattern: "tok_[a-z0-9]{8}"}}
	if err := shipgate.CheckSecretInputs(decls, map[string]string{"token": "tok_abcd1234"}); err != nil {
		t.Fatal(err)
	}
	err := shipgate.CheckSecretInputs(decls, map[string]string{"token": "hunter2-secret"})
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `"tok_[a-z0-9]{8}"`) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("secret pattern: %v", err)
	}
}

func TestUndeclaredInputsWarning(t *testing.T) {
	w := shipgate.UndeclaredInputsWarning("web", nil, map[string]string{"greting": "hi"}, nil)
	if !strings.Contains(w, `service "web" declares no inputs, so "greting" is not checked`) {
		t.Fatalf("warning = %q", w)
	}
	if w := shipgate.UndeclaredInputsWarning("web", []shipgate.InputDecl{}, map[string]string{"a": "1"}, nil); w != "" {
		t.Fatalf("declared: %q", w)
	}
	if w := shipgate.UndeclaredInputsWarning("web", nil, nil, nil); w != "" {
		t.Fatalf("no inputs: %q", w)
	}
}

// A spec that declares no inputs keeps the digest it had before inputs
// existed, so re-applying an unchanged file makes no new revision.
func TestSpecDigestWithoutInputsUnchanged(t *testing.T) {
	s := inputsSpec(nil, nil)
	b, _ := shipgate.CanonicalJSON(s)
	if strings.Contains(string(b), "inputs") {
		t.Fatalf("undeclared inputs encoded: %s", b)
	}
	s.Inputs = []shipgate.InputDecl{}
	b, _ = shipgate.CanonicalJSON(s)
	if !strings.Contains(string(b), `"inputs":[]`) {
		t.Fatalf("inputs: [] lost: %s", b)
	}
}

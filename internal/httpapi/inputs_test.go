package httpapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

const inputsYAML = `apiVersion: shipgate/v1
kind: Service
metadata: {name: hello}
spec:
  inputs:
    - {name: greeting, default: hello, pattern: "[a-z]+", description: what the app says}
    - {name: api_token, secret: true, pattern: "tok_[a-z0-9]{8}"}
  environments:
    - name: staging
    - name: production
      inputs:
        - {name: ticket, required: true, description: change ticket}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

func TestReleaseInputsDeclared(t *testing.T) {
	f := newFixture(t)
	if _, err := f.client("admin").Apply(ctx, "hello.yaml", []byte(inputsYAML)); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("abc"), 0o644)
	c := f.client("carol")
	req := func(env string, inputs, secrets map[string]string) client.CreateReleaseRequest {
		return client.CreateReleaseRequest{Service: "hello", Environment: env, Version: "1.0", Artifact: art, Inputs: inputs, SecretInputs: secrets}
	}
	before, _ := f.db.VerifyAudit(ctx)
	refused := []struct {
		name string
		req  client.CreateReleaseRequest
		want string
	}{
		{"typo", req("staging", map[string]string{"greting": "hi"}, nil), `unknown input "greting"; did you mean "greeting"?`},
		{"no close name", req("staging", map[string]string{"colour": "red"}, nil), `unknown input "colour": the declared inputs are "greeting", "api_token"`},
		{"pattern", req("staging", map[string]string{"greeting": "Hi there"}, nil), `input "greeting" = "Hi there" does not match the pattern "[a-z]+"`},
		{"required in production", req("production", nil, nil), `input "ticket" is required: give it with --input ticket=… (change ticket)`},
		{"secret given plain", req("staging", map[string]string{"api_token": "tok_abcd1234"}, nil), `input "api_token" is declared secret`},
		{"plain given secret", req("staging", nil, map[string]string{"greeting": "hi"}), `input "greeting" is not declared secret`},
		{"secret pattern", req("staging", nil, map[string]string{"api_token": "hunter2-secret"}), `secret input "api_token" does not match the pattern "tok_[a-z0-9]{8}"`},
		// Bounded before any pattern sees it, secret values as plain ones.
		{"secret too long", req("staging", nil, map[string]string{"api_token": "hunter2" + strings.Repeat("x", shipgate.MaxInputValueBytes)}), `secret input "api_token" is 65543 bytes; an input value may be at most 64 KiB (65536 bytes)`},
		{"plain too long", req("staging", map[string]string{"greeting": strings.Repeat("a", shipgate.MaxInputValueBytes+1)}, nil), `input "greeting" is 65537 bytes`},
	}
	for _, tt := range refused {
		_, err := c.CreateRelease(ctx, tt.req)
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("%s: the error shows a secret value: %v", tt.name, err)
		}
	}
	if after, _ := f.db.VerifyAudit(ctx); after != before {
		t.Fatalf("refused releases wrote %d audit events", after-before)
	}
	if rs, _ := c.Releases(ctx, shipgate.ReleaseFilter{}); len(rs) != 0 {
		t.Fatalf("refused requests created %d releases", len(rs))
	}

	v, err := c.CreateRelease(ctx, req("production", map[string]string{"ticket": "CHG-1"}, map[string]string{"api_token": "tok_abcd1234"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Warnings) != 0 || v.Inputs["greeting"] != "hello" || len(v.DefaultedInputs) != 1 || len(v.InputDeclarations) != 3 || v.InputDeclarations[2].Name != "ticket" {
		t.Fatalf("created: warnings %v inputs %v defaulted %v declarations %+v", v.Warnings, v.Inputs, v.DefaultedInputs, v.InputDeclarations)
	}
	// What GET returns for the release and the service, as JSON.
	_, out := f.raw(t, "GET", "/api/v1/releases/1", f.tokens["viewer"], nil)
	b, _ := json.Marshal(out)
	for _, want := range []string{`"input_declarations":[{"default":"hello","description":"what the app says","name":"greeting","pattern":"[a-z]+"}`, `"defaulted_inputs":["greeting"]`, `{"description":"change ticket","name":"ticket","required":true}`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("release JSON lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "tok_abcd1234") || strings.Contains(string(b), "warnings") {
		t.Fatalf("release JSON: %s", b)
	}
	svc, err := c.Service(ctx, "hello")
	if err != nil || len(svc.Spec.Inputs) != 2 || !svc.Spec.Inputs[1].Secret {
		t.Fatalf("service inputs %+v %v", svc.Spec.Inputs, err)
	}
}

// A service that declares no inputs accepts any, as before declarations
// existed, and the answer says nothing checked them.
func TestReleaseInputsUndeclaredWarn(t *testing.T) {
	f := newFixture(t)
	undeclared := "apiVersion: shipgate/v1\nkind: Service\nmetadata: {name: hello}\nspec:\n  environments: [{name: staging}]\n  pipeline: {jobs: [{name: deploy, steps: [{run: \"true\"}]}]}\n"
	if _, err := f.client("admin").Apply(ctx, "hello.yaml", []byte(undeclared)); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("abc"), 0o644)
	v, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "hello", Environment: "staging", Version: "1.0", Artifact: art, Inputs: map[string]string{"greting": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], `service "hello" declares no inputs, so "greting" is not checked`) || v.Inputs["greting"] != "hi" {
		t.Fatalf("warnings %v inputs %v", v.Warnings, v.Inputs)
	}
}

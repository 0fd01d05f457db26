package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/config"
)

const inputsFile = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: hello
spec:
  inputs:
    - name: greeting
      description: what the app says
      default: hello
      pattern: "[a-z ]+"
    - name: db_password
      secret: true
      required: true
  environments:
    - name: staging
    - name: production
      inputs:
        - { name: greeting, required: true, pattern: "[a-z]+" }
        - { name: ticket, required: true, description: change ticket }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo "$SHIPGATE_INPUT_GREETING"
`

func TestParseInputs(t *testing.T) {
	spec, err := config.ParseService("svc.yaml", []byte(inputsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Inputs) != 2 || spec.Inputs[0].Name != "greeting" || spec.Inputs[0].Default == nil || *spec.Inputs[0].Default != "hello" ||
		spec.Inputs[0].Pattern != "[a-z ]+" || spec.Inputs[0].Description != "what the app says" || !spec.Inputs[1].Secret || !spec.Inputs[1].Required {
		t.Fatalf("service inputs = %+v", spec.Inputs)
	}
	staging, _ := spec.Environment("staging")
	prod, _ := spec.Environment("production")
	if staging.Inputs != nil || len(prod.Inputs) != 2 {
		t.Fatalf("environment inputs: staging %+v, production %+v", staging.Inputs, prod.Inputs)
	}
	eff := spec.EffectiveInputs(prod)
	if len(eff) != 3 || eff[0].Name != "greeting" || !eff[0].Required || eff[0].Default != nil || eff[2].Name != "ticket" {
		t.Fatalf("production's inputs = %+v", eff)
	}
	// inputs: [] and an empty inputs: both declare that no input is allowed.
	for _, decl := range []string{"inputs: []", "inputs:"} {
		src := strings.Replace(noInputs, "spec:\n", "spec:\n  "+decl+"\n", 1)
		spec, err := config.ParseService("svc.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", decl, err)
		}
		if spec.Inputs == nil || len(spec.Inputs) != 0 {
			t.Fatalf("%s parsed as %#v", decl, spec.Inputs)
		}
	}
	spec, _ = config.ParseService("svc.yaml", []byte(noInputs))
	if spec.Inputs != nil {
		t.Fatalf("no inputs key parsed as %#v", spec.Inputs)
	}
}

const noInputs = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: hello
spec:
  environments:
    - name: staging
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: "true"
`

func TestParseInputsErrors(t *testing.T) {
	tests := []struct {
		name, inputs, want string
	}{
		{"unknown key", "  inputs:\n    - name: a\n      requred: true\n", `svc.yaml:8: unknown key "requred" in input; did you mean "required"?`},
		{"duplicate name", "  inputs:\n    - name: a\n    - name: b\n    - name: a\n", `svc.yaml:9: input "a" is declared twice`},
		{"bad name", "  inputs:\n    - name: a\n    - name: my-input\n", `svc.yaml:8: input name "my-input" is not valid`},
		{"missing name", "  inputs:\n    - description: x\n", `svc.yaml:7: an input needs a name`},
		{"pattern does not compile", "  inputs:\n    - name: a\n      pattern: \"[a-\"\n", `svc.yaml:8: the pattern of input "a" is not a valid Go (RE2) regular expression`},
		{"pattern too complex", "  inputs:\n    - name: a\n      pattern: '[\\pL\\pN]*(?:\\pL{999})'\n", `svc.yaml:8: the pattern of input "a" is too complex: it compiles to 1005 instructions, more than 1000`},
		{"default against pattern", "  inputs:\n    - name: a\n      pattern: \"[a-z]+\"\n      default: eu-1\n", `svc.yaml:9: the default "eu-1" of input "a" does not match its pattern "[a-z]+"`},
		{"secret with default", "  inputs:\n    - name: a\n      secret: true\n      default: x\n", `svc.yaml:9: input "a" is secret and has a default`},
		{"required with default", "  inputs:\n    - name: a\n      required: true\n      default: x\n", `svc.yaml:9: input "a" is required and has a default`},
		{"not a list", "  inputs: greeting\n", `svc.yaml:6: inputs must be a list, not "greeting"`},
		{"required not a bool", "  inputs:\n    - name: a\n      required: yes please\n", `svc.yaml:8: required must be true or false`},
		{"environment duplicate", "", `svc.yaml:10: input "b" is declared twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(noInputs, "spec:\n", "spec:\n"+tt.inputs, 1)
			if tt.inputs == "" {
				src = strings.Replace(noInputs, "    - name: staging\n", "    - name: staging\n      inputs:\n        - name: b\n        - name: b\n", 1)
			}
			_, err := config.ParseService("svc.yaml", []byte(src))
			var cerr *config.Error
			if !errors.As(err, &cerr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v\nwant …%s…\nfile:\n%s", err, tt.want, src)
			}
		})
	}
}

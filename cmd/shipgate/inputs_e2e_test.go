package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const inputsService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: hello}
spec:
  inputs:
    - name: greeting
      description: what the app says
      default: hello
      pattern: "[a-z]+"
    - {name: db_password, secret: true, description: database password}
  environments:
    - name: staging
    - name: production
      inputs:
        - {name: ticket, required: true, description: change ticket}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo "greeting=$SHIPGATE_INPUT_GREETING"
`

// TestInputsEndToEnd: declared inputs through the real binary: a typo is
// refused with a suggestion and a non-zero exit, nothing is created, and
// release show and service show list the declarations.
func TestInputsEndToEnd(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "carol", "--role", "deployer")
	s.tokens["carol"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "carol"))
	svcFile := filepath.Join(s.workDir, "hello.yaml")
	os.WriteFile(svcFile, []byte(inputsService), 0o644)
	s.ok("admin", "apply", "-f", svcFile)
	os.WriteFile(filepath.Join(s.workDir, "hello-1.0.tar"), []byte("hello 1.0"), 0o644)
	os.WriteFile(filepath.Join(s.workDir, "pw.txt"), []byte("hunter2\n"), 0o600)
	create := []string{"release", "create", "hello", "--env", "staging", "--version", "1.0", "--artifact", "hello-1.0.tar"}

	r := s.fails(`unknown input "greting"; did you mean "greeting"?`, "carol", append(create, "--input", "greting=hi")...)
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("typo: exit %d, stdout %q", r.code, r.stdout)
	}
	s.fails(`input "ticket" is required: give it with --input ticket=… (change ticket)`, "carol", "release", "create", "hello", "--env", "production", "--version", "1.0", "--artifact", "hello-1.0.tar")
	s.fails(`input "db_password" is declared secret`, "carol", append(create, "--input", "db_password=x")...)
	if out := s.ok("admin", "release", "list"); strings.Contains(out, "hello") {
		t.Fatalf("refused releases were created:\n%s", out)
	}

	ok := s.run("carol", append(create, "--secret-input", "db_password=@pw.txt")...)
	if ok.code != 0 || strings.Contains(ok.stderr, "warning") {
		t.Fatalf("create: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	s.ok("carol", "release", "wait", "1")
	out := s.ok("admin", "release", "show", "1")
	for _, want := range []string{
		"inputs:",
		`greeting hello default optional, pattern "[a-z]+" what the app says`,
		"db_password *** given optional, secret database password",
	} {
		if !strings.Contains(squeezeSpaces(out), squeezeSpaces(want)) {
			t.Fatalf("release show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Fatalf("release show shows the secret:\n%s", out)
	}
	var v struct {
		Inputs            map[string]string `json:"inputs"`
		DefaultedInputs   []string          `json:"defaulted_inputs"`
		InputDeclarations []struct {
			Name, Description string
			Secret            bool
		} `json:"input_declarations"`
	}
	s.jsonOut(&v, "admin", "release", "show", "1")
	if v.Inputs["greeting"] != "hello" || len(v.DefaultedInputs) != 1 || len(v.InputDeclarations) != 2 || !v.InputDeclarations[1].Secret {
		t.Fatalf("release show -o json: %+v", v)
	}
	logs := s.ok("admin", "release", "logs", "1")
	if !strings.Contains(logs, "greeting=hello") {
		t.Fatalf("the step did not see the default:\n%s", logs)
	}
	out = s.ok("admin", "service", "show", "hello")
	for _, want := range []string{
		"input greeting: optional, default \"hello\", pattern \"[a-z]+\" — what the app says",
		"input db_password: optional, secret — database password",
		"environment production: 0 approval(s)",
		"input ticket (production only): required — change ticket",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("service show lacks %q:\n%s", want, out)
		}
	}
	var svc struct {
		Spec struct {
			Inputs []json.RawMessage `json:"inputs"`
		} `json:"spec"`
	}
	s.jsonOut(&svc, "admin", "service", "show", "hello")
	if len(svc.Spec.Inputs) != 2 {
		t.Fatalf("service show -o json inputs: %s", svc.Spec.Inputs)
	}

	// A service that declares no inputs takes them, with a warning.
	os.WriteFile(svcFile, []byte(strings.Replace(inputsService, "  inputs:\n    - name: greeting\n      description: what the app says\n      default: hello\n      pattern: \"[a-z]+\"\n    - {name: db_password, secret: true, description: database password}\n", "", 1)), 0o644)
	os.WriteFile(svcFile, []byte(strings.Replace(readInputsFile(t, svcFile), "      inputs:\n        - {name: ticket, required: true, description: change ticket}\n", "", 1)), 0o644)
	s.ok("admin", "apply", "-f", svcFile)
	w := s.run("carol", append(create[:len(create):len(create)], "--version", "1.1", "--input", "greting=hi")...)
	if w.code != 0 || !strings.Contains(w.stderr, `warning: service "hello" declares no inputs, so "greting" is not checked`) {
		t.Fatalf("undeclared: exit %d\n%s%s", w.code, w.stdout, w.stderr)
	}
}

func readInputsFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// squeezeSpaces squeezes runs of spaces, so table columns compare by content.
func squeezeSpaces(s string) string { return strings.Join(strings.Fields(s), " ") }

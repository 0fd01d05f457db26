package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
)

const valid = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: checkout
spec:
  environments:
    - name: staging
      approvals: { required: 0 }
    - name: production
      requires: [staging]
      approvals:
        required: 2
        from_groups: [release-managers]
        expires_after: 24h
      windows:
        - { days: [mon, tue], start: "09:00", end: "16:00", timezone: Europe/Berlin }
      rollback:
        enabled: true
        check_target: health
        delay_seconds: 120
        mode: last_successful
  pipeline:
    jobs:
      - name: deploy
        runs_on: { role: web }
        timeout: 10m
        retries: 1
        steps:
          - run: ./deploy.sh "$SHIPGATE_ARTIFACT_PATH"
      - name: health
        needs: [deploy]
        check:
          http: { url: "http://127.0.0.1:8080/healthz", expect_status: 200 }
          interval: 5s
          pass_after: 3
          fail_after: 3
          timeout: 2m
`

func TestParseServiceValid(t *testing.T) {
	spec, err := config.ParseService("svc.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "checkout" || len(spec.Environments) != 2 || len(spec.Pipeline.Jobs) != 2 {
		t.Fatalf("unexpected spec: %+v", spec)
	}
	prod, _ := spec.Environment("production")
	if prod.Approvals.Required != 2 || prod.Approvals.ExpiresAfter.Std().Hours() != 24 || prod.Windows[0].Timezone != "Europe/Berlin" {
		t.Fatalf("production parsed wrongly: %+v", prod)
	}
	if j, _ := spec.Pipeline.Job("health"); j.Check == nil || j.Check.HTTP.ExpectStatus[0] != 200 || j.Check.FailAfter != 3 {
		t.Fatalf("check parsed wrongly: %+v", j)
	}
	// Formatting and comments do not change the digest.
	reformatted := strings.ReplaceAll(valid, "approvals: { required: 0 }", "approvals:\n        required: 0  # fast lane")
	spec2, err := config.ParseService("svc.yaml", []byte(reformatted))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Digest() != spec2.Digest() {
		t.Fatal("digest changed with formatting only")
	}
}

func TestParseServiceExample(t *testing.T) {
	src, err := os.ReadFile("../../examples/hello.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.ParseService("hello.yaml", src); err != nil {
		t.Fatal(err)
	}
}

// Each malformed file must give a file:line error with a plain sentence.
func TestParseServiceErrors(t *testing.T) {
	tests := []struct {
		name     string
		replace  [2]string // applied to valid
		wantLine int
		wantMsg  string
	}{
		{"unknown key", [2]string{"timeout: 10m", "timout: 10m"}, 26, `unknown key "timout" in job; did you mean "timeout"?`},
		{"unknown top-level key", [2]string{"kind: Service", "kind: Service\nlabels: {}"}, 3, `unknown key "labels" in the file`},
		{"bad duration", [2]string{"timeout: 10m", "timeout: 10 minutes"}, 26, `timeout: "10 minutes" is not a duration`},
		{"duration without unit", [2]string{"interval: 5s", "interval: 5"}, 34, `interval: "5" is not a duration`},
		{"negative duration", [2]string{"expires_after: 24h", "expires_after: -1h"}, 14, `must not be negative`},
		{"cycle", [2]string{"      - name: deploy\n", "      - name: deploy\n        needs: [health]\n"}, 25, `jobs deploy → health → deploy need each other in a cycle`},
		{"dangling check_target", [2]string{"check_target: health", "check_target: healthz"}, 19, `check_target names job "healthz", but the pipeline has no such job`},
		{"dangling requires", [2]string{"requires: [staging]", "requires: [stagin]"}, 10, `requires names environment "stagin"`},
		{"dangling needs", [2]string{"needs: [deploy]", "needs: [deplo]"}, 31, `job "health" needs "deplo", but the pipeline has no such job`},
		{"wrong type int", [2]string{"retries: 1", "retries: two"}, 27, `retries must be a whole number, not "two"`},
		{"wrong type list", [2]string{"requires: [staging]", "requires: staging"}, 10, `requires must be a list, not "staging"`},
		{"wrong type bool", [2]string{"enabled: true", "enabled: yes please"}, 18, `enabled must be true or false`},
		{"wrong type mapping", [2]string{"runs_on: { role: web }", "runs_on: web"}, 25, `runs_on must be a mapping`},
		{"bad window time", [2]string{`start: "09:00"`, `start: "9am"`}, 16, `start: "9am" is not a time of day`},
		{"bad timezone", [2]string{"Europe/Berlin", "Mars/Olympus"}, 16, `timezone "Mars/Olympus" is not known`},
		{"bad weekday", [2]string{"days: [mon, tue]", "days: [mon, tuesday]"}, 16, `"tuesday" is not a weekday`},
		{"duplicate job", [2]string{"- name: health", "- name: deploy"}, 30, `job "deploy" is defined twice`},
		{"duplicate key", [2]string{"retries: 1", "retries: 1\n        retries: 2"}, 28, `key "retries" appears twice in job`},
		{"steps and check", [2]string{"        needs: [deploy]\n", "        needs: [deploy]\n        steps: [{run: x}]\n"}, 30, `has both steps and a check`},
		{"bad api version", [2]string{"shipgate/v1", "shipgate/v2"}, 1, `apiVersion "shipgate/v2" is not supported`},
		{"yaml syntax", [2]string{"kind: Service", "kind: Service\n  bad: [unclosed"}, 3, `not valid YAML`},
		{"bad rollback mode", [2]string{"mode: last_successful", "mode: newest"}, 21, `rollback mode "newest" is not known`},
		{"alias", [2]string{"retries: 1", "retries: &r 1\n        env: *r"}, 28, `YAML aliases (*r) are not supported`},
		{"day overflow", [2]string{"expires_after: 24h", "expires_after: 213504d"}, 14, `longer than 36500 days`},
		{"label name not ASCII", [2]string{"runs_on: { role: web }", `runs_on: { "\u017fhipgate.local": "true" }`}, 25, `label name "ſhipgate.local" is not valid: use 1-63 ASCII letters`},
		{"label name with a space", [2]string{"runs_on: { role: web }", `runs_on: { "ro le": web }`}, 25, `label name "ro le" is not valid`},
		{"invisible label value", [2]string{"runs_on: { role: web }", `runs_on: { role: "w\u200beb" }`}, 25, `the value of runs_on label role contains the invisible character "\u200b"`},
		{"empty step", [2]string{`- run: ./deploy.sh "$SHIPGATE_ARTIFACT_PATH"`, `- name: nothing`}, 29, `a step needs run`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(valid, tt.replace[0], tt.replace[1], 1)
			if src == valid {
				t.Fatalf("replacement %q not found", tt.replace[0])
			}
			spec, err := config.ParseService("svc.yaml", []byte(src))
			if err == nil {
				t.Fatalf("no error; spec %+v", spec)
			}
			if spec != nil {
				t.Fatal("spec returned along with an error")
			}
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error is %T, not *config.Error: %v", err, err)
			}
			if shipgate.ErrorCode(err) != shipgate.EINVALID {
				t.Fatalf("error code %q, want invalid", shipgate.ErrorCode(err))
			}
			found := false
			for _, p := range cerr.Problems {
				if strings.Contains(p.Message, tt.wantMsg) {
					found = true
					if p.Line != tt.wantLine {
						t.Errorf("line %d, want %d: %s", p.Line, tt.wantLine, p)
					}
					if !strings.HasPrefix(p.String(), "svc.yaml:") {
						t.Errorf("problem does not start with the file name: %s", p)
					}
				}
			}
			if !found {
				t.Fatalf("no problem mentions %q; got:\n%v", tt.wantMsg, err)
			}
		})
	}
}

func TestParseServiceEmptyAndMultiDoc(t *testing.T) {
	if _, err := config.ParseService("e.yaml", nil); err == nil || !strings.Contains(err.Error(), "e.yaml:1: the file is empty") {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := config.ParseService("m.yaml", []byte(valid+"---\n"+valid)); err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Fatalf("two documents: %v", err)
	}
	if _, err := config.ParseService("l.yaml", []byte("- a\n- b\n")); err == nil || !strings.Contains(err.Error(), "l.yaml:1: the file must be a mapping") {
		t.Fatalf("list at top: %v", err)
	}
}

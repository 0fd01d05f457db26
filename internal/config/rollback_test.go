package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
)

// rollbackPolicyService has a canary service job and an environment that
// says how rollbacks behave: ROLLBACK is replaced by each case.
const rollbackPolicyService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  environments:
    - name: production
      windows:
        - { start: "09:00", end: "16:00" }
ROLLBACK
  pipeline:
    jobs:
      - name: rollout
        service:
          exec: ["./app", "${PORT}"]
          listen: 127.0.0.1:8080
        strategy:
          canary:
            steps:
              - set_weight: 10
              - pause: {}
              - analysis:
                  sequential: { duration: 1m }
`

func rollbackPolicy(block string) string {
	return strings.Replace(rollbackPolicyService, "ROLLBACK\n", block, 1)
}

func TestParseRollbackKeys(t *testing.T) {
	spec, err := config.ParseService("svc.yaml", []byte(rollbackPolicy(`      windows_apply_to_rollbacks: true
      rollback_strategy:
        canary:
          steps:
            - set_weight: 50
            - pause: 30s
            - set_weight: 100
`)))
	if err != nil {
		t.Fatal(err)
	}
	prod, _ := spec.Environment("production")
	if !prod.WindowsApplyToRollbacks {
		t.Fatal("windows_apply_to_rollbacks not parsed")
	}
	s := prod.RollbackStrategy
	if s == nil || s.Canary == nil || len(s.Canary.Steps) != 3 || *s.Canary.Steps[0].SetWeight != 50 || s.Canary.Steps[1].Pause.Duration.Std().Seconds() != 30 {
		t.Fatalf("rollback_strategy parsed wrongly: %+v", s)
	}
	// Without the keys: rollbacks ignore windows and move all traffic at
	// once, and the spec's digest is the one it had before the keys existed.
	plain, err := config.ParseService("svc.yaml", []byte(rollbackPolicy("")))
	if err != nil {
		t.Fatal(err)
	}
	prod, _ = plain.Environment("production")
	if prod.WindowsApplyToRollbacks || prod.RollbackStrategy != nil {
		t.Fatalf("defaults: %+v", prod)
	}
	if b, _ := shipgate.CanonicalJSON(prod); strings.Contains(string(b), "rollback_strategy") || strings.Contains(string(b), "windows_apply") {
		t.Fatalf("unset keys enter the digest: %s", b)
	}
	bg, err := config.ParseService("svc.yaml", []byte(rollbackPolicy(`      rollback_strategy:
        blue_green: { preview: 127.0.0.1:8081, scale_down_delay: 1m }
`)))
	if err != nil {
		t.Fatal(err)
	}
	if prod, _ := bg.Environment("production"); prod.RollbackStrategy.BlueGreen == nil {
		t.Fatal("blue_green rollback_strategy not parsed")
	}
}

// A rollback_strategy that would pause for a person or judge the rollback
// is refused at apply, at its line, with a sentence saying why.
func TestParseRollbackStrategyErrors(t *testing.T) {
	tests := []struct {
		name     string
		block    string
		wantLine int
		wantMsg  string
	}{
		{"manual pause", `      rollback_strategy:
        canary:
          steps:
            - set_weight: 50
            - pause: {}
`, 14, "a rollback never waits for a person"},
		{"step analysis", `      rollback_strategy:
        canary:
          steps:
            - set_weight: 50
            - analysis: {sequential: {duration: 1m}}
`, 14, "a rollback is never judged against the version it replaces"},
		{"background analysis", `      rollback_strategy:
        canary:
          steps: [{set_weight: 50}]
          background_analysis:
            metrics:
              - name: errors
                provider: {builtin: {metric: error_rate}}
                interval: 10s
                failure_condition: "result[0] > 0.1"
`, 13, "a rollback is never judged against the version it replaces"},
		{"blue-green analysis", `      rollback_strategy:
        blue_green:
          preview: 127.0.0.1:8081
          analysis: {sequential: {duration: 1m}}
`, 13, "a rollback is never judged against the version it replaces"},
		{"shape like a job's strategy", `      rollback_strategy:
        canary:
          steps:
            - set_weight: 150
`, 13, "set_weight is a percentage of traffic from 0 to 100"},
		{"both kinds", `      rollback_strategy:
        canary: {steps: [{set_weight: 50}]}
        blue_green: {preview: 127.0.0.1:8081}
`, 10, "a strategy has exactly one of canary or blue_green"},
		{"unknown key", `      rollback_strategy:
        canary: {step: [{set_weight: 50}]}
`, 11, `unknown key "step" in canary`},
		{"preview is the listen address", `      rollback_strategy:
        blue_green: {preview: 127.0.0.1:8080}
`, 11, "the preview needs an address of its own"},
		{"bad bool", `      windows_apply_to_rollbacks: sometimes
`, 10, "windows_apply_to_rollbacks must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantRollbackProblem(t, tt.block, tt.wantLine, tt.wantMsg) })
	}
}

// A rollback_strategy needs a service job to apply to.
func TestRollbackStrategyNeedsServiceJob(t *testing.T) {
	src := `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments:
    - name: production
      rollback_strategy:
        canary: {steps: [{set_weight: 50}]}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`
	_, err := config.ParseService("svc.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "svc.yaml:7: ") || !strings.Contains(err.Error(), "no service: job") {
		t.Fatalf("got %v", err)
	}
}

// windows_apply_to_rollbacks on an environment without windows would hold
// nothing: refused at apply, at its line, rather than accepted silently
// as if it protected something. false there is harmless and accepted.
func TestWindowsApplyToRollbacksNeedsWindows(t *testing.T) {
	src := `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments:
    - name: staging
    - name: production
      windows_apply_to_rollbacks: true
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`
	_, err := config.ParseService("svc.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "svc.yaml:8: ") ||
		!strings.Contains(err.Error(), "windows_apply_to_rollbacks has no effect: environment production has no windows") {
		t.Fatalf("got %v", err)
	}
	if _, err := config.ParseService("svc.yaml", []byte(strings.Replace(src, ": true", ": false", 1))); err != nil {
		t.Fatalf("windows_apply_to_rollbacks: false refused: %v", err)
	}
}

// wantRollbackProblem parses a service whose production environment has
// block, and wants a problem mentioning msg at line.
func wantRollbackProblem(t *testing.T, block string, line int, msg string) {
	t.Helper()
	spec, err := config.ParseService("svc.yaml", []byte(rollbackPolicy(block)))
	if err == nil {
		t.Fatalf("no error; spec %+v", spec)
	}
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error is %T: %v", err, err)
	}
	for _, p := range cerr.Problems {
		if strings.Contains(p.Message, msg) {
			if p.Line != line {
				t.Errorf("line %d, want %d: %s", p.Line, line, p)
			}
			return
		}
	}
	t.Fatalf("no problem mentions %q; got:\n%v", msg, err)
}

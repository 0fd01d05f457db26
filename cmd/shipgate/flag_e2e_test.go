package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const flagsService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants:
        on: true
        off: "no"
      safe_variant: off
      rules:
        - when:
            - { attribute: email, op: regex, value: '(@example\.com' }
            - { attribute: app_version, op: semver_ge, value: "2.3" }
            - { attribute: plan, op: contains, value: pro }
          variant: on
      rollout:
        split:
          - { variant: on, percent: 10 }
          - { variant: off, percent: 80 }
  environments:
    - name: production
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`

// Issue 15, "Done when": bad flag definitions in a service file get
// file:line errors — every problem of the file at once, nothing applied,
// nothing audited as applied; the corrected file applies and keeps its
// flags.
func TestBadFlagDefinitionsE2E(t *testing.T) {
	s := startServer(t)
	f := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(f, []byte(flagsService), 0o644)
	r := s.run("admin", "apply", "-f", "shop.yaml")
	if r.code == 0 {
		t.Fatalf("a bad file applied:\n%s", r.stdout)
	}
	for _, want := range []string{
		`shop.yaml:7: flag "new-checkout" needs a default_variant (one of its variants)`,
		`shop.yaml:11: variant "off" of boolean flag "new-checkout" must be true or false, not the string "no"`,
		"shop.yaml:15: the regex does not compile: missing closing ): `(@example\\.com`",
		`shop.yaml:16: "2.3" is not a semantic version: want MAJOR.MINOR.PATCH, such as 1.4.2`,
		`shop.yaml:17: operator "contains" is not known: use one of equals, in, gt, ge, lt, le, semver_gt, semver_ge, semver_lt, semver_le, semver_eq, regex`,
		`shop.yaml:20: the percentages sum to 90, not 100`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// A shape problem (an unknown key) is named at its line too.
	os.WriteFile(f, []byte(strings.Replace(flagsService, "      safe_variant: off\n", "      safe_variant: off\n      default: off\n", 1)), 0o644)
	s.fails(`shop.yaml:13: unknown key "default" in flag`, "admin", "apply", "-f", "shop.yaml")
	s.fails(`service "shop" does not exist`, "admin", "service", "show", "shop")
	if out := s.ok("admin", "audit", "list"); strings.Contains(out, "service.applied") {
		t.Fatalf("a bad file was audited as applied:\n%s", out)
	}

	fixed := strings.NewReplacer(`off: "no"`, "off: false", "      safe_variant: off\n", "      safe_variant: off\n      default_variant: off\n",
		`'(@example\.com'`, `'@example\.com$'`, `"2.3"`, `"2.3.0"`, "op: contains", "op: equals", "percent: 80", "percent: 90").Replace(flagsService)
	os.WriteFile(f, []byte(fixed), 0o644)
	if out := s.ok("admin", "apply", "-f", "shop.yaml"); !strings.Contains(out, "revision 1 applied") {
		t.Fatalf("apply: %s", out)
	}
	var svc struct {
		Spec struct {
			Flags []struct {
				Key            string         `json:"key"`
				Variants       map[string]any `json:"variants"`
				DefaultVariant string         `json:"default_variant"`
				Rules          []struct {
					When []struct{ Op string } `json:"when"`
				} `json:"rules"`
			} `json:"flags"`
		} `json:"spec"`
	}
	s.jsonOut(&svc, "admin", "service", "show", "shop")
	if fl := svc.Spec.Flags; len(fl) != 1 || fl[0].Key != "new-checkout" || fl[0].Variants["off"] != false ||
		fl[0].DefaultVariant != "off" || len(fl[0].Rules[0].When) != 3 || fl[0].Rules[0].When[2].Op != "equals" {
		t.Fatalf("service flags = %+v", svc.Spec.Flags)
	}
}

package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
)

// flagsFile is the example of docs/flags.md.
const flagsFile = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  flags:
    - key: new-checkout
      type: boolean
      description: the one-page checkout
      variants: { on: true, off: false }
      default_variant: off
      safe_variant: off
      rules:
        - name: staff
          when:
            - { attribute: email, op: regex, value: '@example\.com$' }
          variant: on
        - name: recent apps in the Benelux
          when:
            - { attribute: country, op: in, value: [NL, BE, LU] }
            - { attribute: app_version, op: semver_ge, value: 2.3.0 }
          rollout:
            split:
              - { variant: on, percent: 10 }
              - { variant: off, percent: 90 }
    - key: checkout-theme
      type: json
      variants:
        classic: { color: blue, steps: 3 }
        compact: { color: green, steps: [1, 2] }
      default_variant: classic
      safe_variant: classic
      rollout:
        by: tenant
        split: [{ variant: classic, percent: 50 }, { variant: compact, percent: 50 }]
  environments:
    - name: staging
    - name: production
      flags:
        - key: new-checkout
          type: boolean
          enabled: false
          variants: { on: true, off: false }
          default_variant: off
          safe_variant: off
        - key: max-items
          type: number
          variants: { small: 10, large: 250.5 }
          default_variant: small
          safe_variant: small
          rules:
            - when: [{ attribute: plan, op: equals, value: enterprise }, { attribute: seats, op: ge, value: 100 }]
              variant: large
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: ./deploy.sh
`

func TestParseFlags(t *testing.T) {
	spec, err := config.ParseService("shop.yaml", []byte(flagsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Flags) != 2 {
		t.Fatalf("flags = %+v", spec.Flags)
	}
	nc := spec.Flags[0]
	if nc.Key != "new-checkout" || nc.Type != shipgate.FlagBoolean || nc.Variants["on"] != true || nc.Variants["off"] != false ||
		nc.DefaultVariant != "off" || nc.SafeVariant != "off" || nc.Disabled || len(nc.Rules) != 2 {
		t.Fatalf("new-checkout = %+v", nc)
	}
	r := nc.Rules[1]
	if r.Name != "recent apps in the Benelux" || len(r.When) != 2 || r.When[0].Op != shipgate.OpIn ||
		len(r.When[0].Value.([]any)) != 3 || r.When[1].Value != "2.3.0" || r.Rollout == nil ||
		r.Rollout.Attribute() != shipgate.TargetingKey || r.Rollout.Split[0].Percent != 10 {
		t.Fatalf("rule = %+v", r)
	}
	theme := spec.Flags[1]
	classic := theme.Variants["classic"].(map[string]any)
	if classic["color"] != "blue" || classic["steps"] != 3.0 || theme.Rollout.By != "tenant" {
		t.Fatalf("checkout-theme = %+v", theme)
	}
	staging, _ := spec.Environment("staging")
	prod, _ := spec.Environment("production")
	if got := spec.EffectiveFlags(staging); len(got) != 2 || got[0].Disabled {
		t.Fatalf("staging flags = %+v", got)
	}
	got := spec.EffectiveFlags(prod)
	if len(got) != 3 || got[0].Key != "new-checkout" || !got[0].Disabled || len(got[0].Rules) != 0 ||
		got[1].Key != "checkout-theme" || got[2].Key != "max-items" || got[2].Variants["large"] != 250.5 ||
		got[2].Rules[0].When[1].Value != 100.0 {
		t.Fatalf("production flags = %+v", got)
	}
}

// TestFlagsKeepDigests: a service without flags has the digest it had
// before flags existed.
func TestFlagsKeepDigests(t *testing.T) {
	spec, err := config.ParseService("svc.yaml", []byte(noInputs))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := shipgate.CanonicalJSON(spec)
	if strings.Contains(string(b), "flags") {
		t.Fatalf("a spec without flags encodes them: %s", b)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, flag, want string
	}{
		{"unknown key", "      key: f\n      type: boolean\n      variants: {on: true, off: false}\n      default_variant: off\n      safe_variant: off\n      defualt: on\n",
			`svc.yaml:13: unknown key "defualt" in flag (known keys: default_variant, description, enabled, key, rollout, rules, safe_variant, type, variants)`},
		{"type mismatch", "      key: f\n      type: boolean\n      variants:\n        on: true\n        off: \"no\"\n      default_variant: off\n      safe_variant: off\n",
			`svc.yaml:12: variant "off" of boolean flag "f" must be true or false, not the string "no"`},
		{"number mismatch", "      key: f\n      type: number\n      variants:\n        a: 1\n        b: lots\n      default_variant: a\n      safe_variant: a\n",
			`svc.yaml:12: variant "b" of number flag "f" must be a number, not the string "lots"`},
		{"missing default", "      key: f\n      type: string\n      variants: {a: x}\n      safe_variant: a\n",
			`svc.yaml:8: flag "f" needs a default_variant (one of its variants)`},
		{"unknown default", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: b\n      safe_variant: a\n",
			`svc.yaml:11: default_variant "b" is not a variant of flag "f"; its variants are "a"`},
		{"missing safe", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n",
			`svc.yaml:8: flag "f" needs a safe_variant (one of its variants)`},
		{"bad type", "      key: f\n      type: bool\n      variants: {a: true}\n      default_variant: a\n      safe_variant: a\n",
			`svc.yaml:9: flag type "bool" is not known: use one of boolean, string, number, json`},
		{"percentages", "      key: f\n      type: string\n      variants: {a: x, b: y}\n      default_variant: a\n      safe_variant: a\n      rollout:\n        split:\n          - {variant: a, percent: 10}\n          - {variant: b, percent: 80}\n",
			`svc.yaml:14: the percentages sum to 90, not 100`},
		{"percent decimals", "      key: f\n      type: string\n      variants: {a: x, b: y}\n      default_variant: a\n      safe_variant: a\n      rollout:\n        split:\n          - {variant: a, percent: 10.125}\n          - {variant: b, percent: 89.875}\n",
			`svc.yaml:15: percent 10.125 has more than two decimals`},
		{"percent not a number", "      key: f\n      type: string\n      variants: {a: x, b: y}\n      default_variant: a\n      safe_variant: a\n      rollout:\n        split:\n          - {variant: a, percent: ten}\n",
			`svc.yaml:15: percent must be a number such as 10 or 2.5, not "ten"`},
		{"bad regex", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n      rules:\n        - variant: a\n          when:\n            - attribute: email\n              op: regex\n              value: '(unclosed'\n",
			`svc.yaml:18: the regex does not compile: missing closing ): ` + "`(unclosed`"},
		{"bad semver", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n      rules:\n        - variant: a\n          when:\n            - {attribute: v, op: semver_gt, value: '1.2'}\n",
			`svc.yaml:16: "1.2" is not a semantic version: want MAJOR.MINOR.PATCH, such as 1.4.2`},
		{"unknown operator", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n      rules:\n        - variant: a\n          when:\n            - attribute: v\n              op: contains\n              value: x\n",
			`svc.yaml:17: operator "contains" is not known: use one of equals, in, gt, ge, lt, le, semver_gt, semver_ge, semver_lt, semver_le, semver_eq, regex`},
		{"unknown rule key", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n      rules:\n        - variant: a\n          if: []\n",
			`svc.yaml:15: unknown key "if" in rule`},
		{"rule without variant", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n      rules:\n        - when: [{attribute: v, op: equals, value: x}]\n",
			`svc.yaml:14: a rule needs a variant or a rollout to serve when it matches`},
		{"number op on string", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n      rules:\n        - variant: a\n          when:\n            - {attribute: seats, op: gt, value: many}\n",
			`svc.yaml:16: operator gt compares numbers: the value must be a number, not the string "many"`},
		{"in needs a list", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n      rules:\n        - variant: a\n          when:\n            - {attribute: c, op: in, value: NL}\n",
			`svc.yaml:16: the value of an "in" condition must be a list, not the string "NL"`},
		{"duplicate variant", "      key: f\n      type: string\n      variants:\n        a: x\n        a: y\n      default_variant: a\n      safe_variant: a\n",
			`svc.yaml:12: variant "a" appears twice`},
		{"bad key", "      key: \"new checkout\"\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n",
			`svc.yaml:8: flag key "new checkout" is not valid`},
		{"enabled not bool", "      key: f\n      type: string\n      variants: {a: x}\n      default_variant: a\n      safe_variant: a\n      enabled: maybe\n",
			`svc.yaml:13: enabled must be true or false, not "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(noInputs, "spec:\n", "spec:\n  flags:\n    -\n"+tc.flag, 1)
			_, err := config.ParseService("svc.yaml", []byte(src))
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("err = %v, want a config error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err =\n%v\nwant it to contain\n%s\nsource:\n%s", err, tc.want, src)
			}
			if shipgate.ErrorCode(err) != shipgate.EINVALID {
				t.Fatalf("err %v is not EINVALID", err)
			}
		})
	}
}

func TestParseFlagsDuplicateKey(t *testing.T) {
	two := "    - {key: f, type: string, variants: {a: x}, default_variant: a, safe_variant: a}\n"
	src := strings.Replace(noInputs, "spec:\n", "spec:\n  flags:\n"+two+two, 1)
	_, err := config.ParseService("svc.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `svc.yaml:8: flag "f" is defined twice`) {
		t.Fatalf("err = %v", err)
	}
	// The same key in an environment replaces the service's flag.
	env := "    - name: staging\n      flags:\n  " + strings.ReplaceAll(two, "\n", "") + "\n"
	src = strings.Replace(noInputs, "spec:\n", "spec:\n  flags:\n"+two, 1)
	src = strings.Replace(src, "    - name: staging\n", env, 1)
	spec, err := config.ParseService("svc.yaml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if len(spec.EffectiveFlags(&spec.Environments[0])) != 1 {
		t.Fatalf("flags = %+v", spec.EffectiveFlags(&spec.Environments[0]))
	}
}

// TestFlagsDocExample parses the service file of docs/flags.md as the page
// prints it, and checks it declares every flag the page's other examples
// use in production (release create --flag, the mitigations, the Go
// example's shop/banner), so a newcomer can paste them in turn. The page
// used a flag "banner" its file did not declare.
func TestFlagsDocExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/flags.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## The service file\n")
	if !ok {
		t.Fatal(`docs/flags.md has no "The service file" section`)
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	file, _, _ := strings.Cut(rest, "```")
	spec, err := config.ParseService("shop.yaml", []byte(file))
	if err != nil {
		t.Fatalf("the example of docs/flags.md does not parse: %v", err)
	}
	prod, _ := spec.Environment("production")
	have := map[string]bool{}
	for _, f := range spec.EffectiveFlags(prod) {
		have[f.Key] = true
	}
	for _, key := range []string{"new-checkout", "banner", "max-items", "checkout-theme"} {
		if !have[key] {
			t.Errorf("the example declares no flag %q in production; the page's examples use it", key)
		}
	}
}

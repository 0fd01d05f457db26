package httpapi_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

const flagsYAML = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: {on: true, off: false}
      default_variant: off
      safe_variant: off
      rules:
        - when: [{attribute: country, op: in, value: [NL, BE]}, {attribute: app_version, op: semver_ge, value: 2.3.0}]
          rollout: {split: [{variant: on, percent: 10}, {variant: off, percent: 90}]}
    - key: theme
      type: json
      variants: {classic: {color: blue}, compact: {color: green, steps: [1, 2]}}
      default_variant: classic
      safe_variant: classic
  environments:
    - name: staging
    - name: production
      flags:
        - {key: new-checkout, type: boolean, enabled: false, variants: {on: true, off: false}, default_variant: off, safe_variant: off}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// TestServiceFlagsRoundTrip: a service file's flags are kept whole by
// apply and served back as the API describes them (the fixture checks
// every exchange against openapi.json).
func TestServiceFlagsRoundTrip(t *testing.T) {
	f := newFixture(t)
	c := f.client("admin")
	if _, err := c.Apply(ctx, "shop.yaml", []byte(flagsYAML)); err != nil {
		t.Fatal(err)
	}
	svc, err := c.Service(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Flags) != 2 {
		t.Fatalf("flags = %+v", svc.Spec.Flags)
	}
	got := svc.Spec.Flags[0]
	if got.Key != "new-checkout" || got.Rules[0].When[0].Value.([]any)[1] != "BE" || got.Rules[0].Rollout.Split[1].Percent != 90 {
		t.Fatalf("new-checkout = %+v", got)
	}
	if !reflect.DeepEqual(svc.Spec.Flags[1].Variants["compact"], map[string]any{"color": "green", "steps": []any{1.0, 2.0}}) {
		t.Fatalf("theme = %+v", svc.Spec.Flags[1])
	}
	prod, _ := svc.Spec.Environment("production")
	if eff := svc.Spec.EffectiveFlags(prod); !eff[0].Disabled || eff[1].Key != "theme" {
		t.Fatalf("production flags = %+v", eff)
	}
	// The digest is that of the parsed file: the API's copy decodes to
	// the same spec.
	if svc.Spec.Digest() != svc.Digest {
		t.Fatalf("digest %s, spec digests to %s", svc.Digest, svc.Spec.Digest())
	}
}

func TestServiceFlagsBadDefinitionRefused(t *testing.T) {
	f := newFixture(t)
	c := f.client("admin")
	bad := strings.Replace(flagsYAML, "percent: 90", "percent: 80", 1)
	_, err := c.Apply(ctx, "shop.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "shop.yaml:13: the percentages sum to 90, not 100") || shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Service(ctx, "shop"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("a refused file created the service: %v", err)
	}
}

package config_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/config"
)

func TestParseFlag(t *testing.T) {
	f, err := config.ParseFlag("f.yaml", []byte(`key: new-checkout
type: boolean
variants: {"on": true, "off": false}
default_variant: "off"
safe_variant: "off"
rollout: {by: userId, split: [{variant: "on", percent: 10}, {variant: "off", percent: 90}]}
`))
	if err != nil || f.Key != "new-checkout" || f.Rollout.By != "userId" || f.Rollout.Split[0].Percent != 10 {
		t.Fatalf("%+v %v", f, err)
	}
	for _, tc := range []struct{ src, want string }{
		{"", "f.yaml:1: the file is empty"},
		{"- key: a\n", "f.yaml:1: the file holds one flag, a mapping"},
		{"key: a\ntype: boolean\nvariants: {\"on\": true}\ndefault_variant: \"on\"\nsafe_variant: \"on\"\ncolour: red\n", "f.yaml:6:"},
		{"key: a\ntype: boolean\nvariants: {\"on\": true}\ndefault_variant: \"on\"\nsafe_variant: \"off\"\n", `f.yaml:5: safe_variant "off" is not a variant`},
	} {
		if _, err := config.ParseFlag("f.yaml", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

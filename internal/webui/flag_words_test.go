package webui

import (
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

func checkoutFlag() *shipgate.Flag {
	return &shipgate.Flag{
		Key: "new-checkout", Type: shipgate.FlagBoolean,
		Variants:       map[string]any{"on": true, "off": false},
		DefaultVariant: "off", SafeVariant: "off",
		Rules: []shipgate.FlagRule{{
			When: []shipgate.FlagCondition{
				{Attribute: "country", Op: shipgate.OpIn, Value: []any{"de", "fr"}},
				{Attribute: "appVersion", Op: shipgate.OpSemverGE, Value: "2.1.0"},
			},
			Variant: "on",
		}},
	}
}

func TestFlagStateInWords(t *testing.T) {
	rollout := checkoutFlag()
	rollout.Rollout = &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "on", Percent: 10}, {Variant: "off", Percent: 90}}}
	plain := checkoutFlag()
	plain.Rules = nil
	killed := checkoutFlag()
	killed.Disabled = true
	mitigated := checkoutFlag()
	mitigated.Disabled, mitigated.Serve = true, "on"
	for _, tc := range []struct {
		name        string
		f           *shipgate.Flag
		last        *shipgate.FlagChange
		kind, words string
	}{
		{"rules", checkoutFlag(), nil, "on", "on: targeting rules decide"},
		{"no rules", plain, nil, "on", "on: serves off"},
		{"rollout", rollout, nil, "rollout", "rollout 10% on, 90% off"},
		{"killed", killed, &shipgate.FlagChange{Op: shipgate.FlagOpKill}, "killed", "killed: serves off"},
		{"killed with a release's flags", killed, &shipgate.FlagChange{Op: shipgate.FlagOpKill, ReleaseID: 9}, "killed", "killed with release #9's flags: serves off"},
		{"mitigated", mitigated, &shipgate.FlagChange{Op: shipgate.FlagOpMitigation, ReleaseID: 12}, "mitigated", "mitigated by release #12: serves on"},
		{"disabled by a governed change", killed, &shipgate.FlagChange{Op: shipgate.FlagOpDisable}, "disabled", "off: serves off"},
		{"disabled, history unknown", killed, nil, "disabled", "off: serves off"},
	} {
		got := flagState(tc.f, tc.last)
		if got.Kind != tc.kind || got.Words != tc.words || got.Symbol == "" {
			t.Errorf("%s: %+v, want kind %s, words %q and a symbol", tc.name, got, tc.kind, tc.words)
		}
	}
}

func TestFlagRulesInWords(t *testing.T) {
	f := checkoutFlag()
	if got, want := ruleWords(f.Rules[0]), "if country in [de, fr] and appVersion ≥ 2.1.0 (version) → on"; got != want {
		t.Errorf("rule: %q, want %q", got, want)
	}
	for _, tc := range []struct {
		rule shipgate.FlagRule
		want string
	}{
		{shipgate.FlagRule{Variant: "on"}, "everyone → on"},
		{shipgate.FlagRule{When: []shipgate.FlagCondition{{Attribute: "email", Op: shipgate.OpRegex, Value: `@example\.com$`}}, Variant: "on"}, `if email matches /@example\.com$/ → on`},
		{shipgate.FlagRule{When: []shipgate.FlagCondition{{Attribute: "age", Op: shipgate.OpLT, Value: 18.0}, {Attribute: "beta", Op: shipgate.OpEquals, Value: true}}, Variant: "off"}, "if age < 18 and beta = true → off"},
		{shipgate.FlagRule{Rollout: &shipgate.FlagRollout{By: "orgId", Split: []shipgate.FlagSplit{{Variant: "on", Percent: 33.33}, {Variant: "off", Percent: 66.67}}}}, "everyone → split 33.33% on, 66.67% off by orgId"},
	} {
		if got := ruleWords(tc.rule); got != tc.want {
			t.Errorf("rule: %q, want %q", got, tc.want)
		}
	}
	if got := targetingSummary(&shipgate.Flag{DefaultVariant: "off"}); got != "everyone gets off" {
		t.Errorf("no targeting: %q", got)
	}
	f.Rollout = &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "on", Percent: 50}, {Variant: "off", Percent: 50}}}
	if got := targetingSummary(f); !strings.Contains(got, "country in [de, fr]") || !strings.Contains(got, "others: 50% on, 50% off by targetingKey") {
		t.Errorf("summary: %q", got)
	}
}

func TestFlagChangeBeforeAfterInWords(t *testing.T) {
	before := checkoutFlag()
	after := checkoutFlag()
	after.Disabled = true
	killed := flagChangeWords(&shipgate.FlagChange{Op: shipgate.FlagOpKill, Before: before, After: after})
	if want := []string{"state: on → off (serves off)"}; !slices.Equal(killed, want) {
		t.Errorf("kill: %q, want %q", killed, want)
	}
	after = checkoutFlag()
	after.DefaultVariant = "on"
	after.Variants["beta"] = "x"
	delete(after.Variants, "off")
	after.Rules = append(after.Rules, shipgate.FlagRule{Variant: "beta"})
	after.Rollout = &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "on", Percent: 100}}}
	got := flagChangeWords(&shipgate.FlagChange{Op: shipgate.FlagOpSet, Before: before, After: after})
	for _, want := range []string{"default variant: off → on", "rollout: none → 100% on by targetingKey", "variant beta added: x", "variant off removed (was false)", "rule 2 added: everyone → beta"} {
		if !slices.Contains(got, want) {
			t.Errorf("set: %q lacks %q", got, want)
		}
	}
	if got := flagChangeWords(&shipgate.FlagChange{Op: shipgate.FlagOpFile, After: before}); len(got) != 1 || !strings.HasPrefix(got[0], "created: on") {
		t.Errorf("new flag: %q", got)
	}
	if got := flagChangeWords(&shipgate.FlagChange{Op: shipgate.FlagOpRemove, Before: before}); len(got) != 1 || !strings.HasPrefix(got[0], "removed (was on") {
		t.Errorf("removed flag: %q", got)
	}
}

func TestFlagVariantsAndSplitBar(t *testing.T) {
	f := checkoutFlag()
	f.Type = shipgate.FlagJSON
	f.Variants = map[string]any{"off": map[string]any{"limit": 1.0}, "on": "fast"}
	rows := variantRows(f)
	if len(rows) != 2 || rows[0].Name != "off" || rows[0].Value != `{"limit":1}` || !rows[0].Default || !rows[0].Safe || rows[1].Value != `"fast"` {
		t.Errorf("variants: %+v", rows)
	}
	bars := splitBars([]shipgate.FlagSplit{{Variant: "on", Percent: 12.5}, {Variant: "off", Percent: 87.5}})
	if len(bars) != 2 || bars[1].X != "12.50" || bars[1].Width != "87.50" || bars[0].Percent != "12.5%" {
		t.Errorf("bars: %+v", bars)
	}
}

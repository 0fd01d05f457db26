package webui

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
)

// Flags told in words for people: a flag's state with a symbol (never by
// colour alone), its targeting rules as sentences, its rollout as a split,
// and what a change did as a before → after list.

// flagStateView is a flag's state in words and a symbol.
type flagStateView struct {
	// Kind is on, killed, mitigated, disabled or rollout: a class name
	// and what tests look for.
	Kind   string
	Symbol string
	Words  string
}

// flagState says what a flag serves now. last is the newest applied
// change of the flag (nil when unknown): it tells a kill from a governed
// disable, and names the release whose rollback policy flipped the flag.
func flagState(f *shipgate.Flag, last *shipgate.FlagChange) flagStateView {
	if f.Disabled {
		served := f.Served()
		switch {
		case last != nil && last.Op == shipgate.FlagOpMitigation && last.ReleaseID > 0:
			return flagStateView{"mitigated", "↺", fmt.Sprintf("mitigated by release #%d: serves %s", last.ReleaseID, served)}
		case last != nil && last.Op == shipgate.FlagOpKill && last.ReleaseID > 0:
			return flagStateView{"killed", "✖", fmt.Sprintf("killed with release #%d's flags: serves %s", last.ReleaseID, served)}
		case last != nil && last.Op == shipgate.FlagOpKill:
			return flagStateView{"killed", "✖", "killed: serves " + served}
		case last != nil && last.Op == shipgate.FlagOpMitigation:
			return flagStateView{"mitigated", "↺", "mitigated: serves " + served}
		}
		return flagStateView{"disabled", "■", "off: serves " + served}
	}
	if f.Rollout != nil {
		return flagStateView{"rollout", "◐", "rollout " + splitWords(f.Rollout.Split)}
	}
	if len(f.Rules) > 0 {
		return flagStateView{"on", "●", "on: targeting rules decide"}
	}
	return flagStateView{"on", "●", "on: serves " + f.DefaultVariant}
}

// FlagStateWords is a flag's state in the words of the flag pages
// ("killed: serves off", "off: serves off", "mitigated by release #12:
// serves off", "rollout 10% on, 90% off"), for the CLI to say the same.
// last is the flag's newest applied change, nil when unknown.
func FlagStateWords(f *shipgate.Flag, last *shipgate.FlagChange) string {
	return flagState(f, last).Words
}

// splitWords is a rollout's split: "10% on, 90% off".
func splitWords(split []shipgate.FlagSplit) string {
	parts := make([]string, len(split))
	for i, s := range split {
		parts[i] = percent(s.Percent) + " " + s.Variant
	}
	return strings.Join(parts, ", ")
}

// percent writes a share with at most two decimals and no trailing zeros.
func percent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// targetingSummary is one line for the list: how many rules, and the
// rollout of callers no rule matched.
func targetingSummary(f *shipgate.Flag) string {
	var parts []string
	switch n := len(f.Rules); n {
	case 0:
	case 1:
		parts = append(parts, ruleWords(f.Rules[0]))
	default:
		parts = append(parts, fmt.Sprintf("%d rules, first: %s", n, ruleWords(f.Rules[0])))
	}
	if f.Rollout != nil {
		parts = append(parts, fmt.Sprintf("others: %s by %s", splitWords(f.Rollout.Split), f.Rollout.Attribute()))
	}
	if len(parts) == 0 {
		return "everyone gets " + f.DefaultVariant
	}
	return strings.Join(parts, "; ")
}

// opWords is how an operator reads between an attribute and a value.
var opWords = map[shipgate.FlagOp]string{
	shipgate.OpEquals: "=", shipgate.OpIn: "in",
	shipgate.OpGT: ">", shipgate.OpGE: "≥", shipgate.OpLT: "<", shipgate.OpLE: "≤",
	shipgate.OpSemverGT: ">", shipgate.OpSemverGE: "≥", shipgate.OpSemverLT: "<", shipgate.OpSemverLE: "≤", shipgate.OpSemverEQ: "=",
	shipgate.OpRegex: "matches",
}

// conditionWords reads one condition: "country in [de, fr]",
// "appVersion ≥ 2.1.0 (version)", "email matches /@example\.com$/".
func conditionWords(c shipgate.FlagCondition) string {
	op, ok := opWords[c.Op]
	if !ok {
		op = string(c.Op)
	}
	val := valueWords(c.Value)
	switch {
	case c.Op == shipgate.OpRegex:
		val = "/" + fmt.Sprint(c.Value) + "/"
	case c.Op.IsSemver():
		val += " (version)"
	}
	return c.Attribute + " " + op + " " + val
}

// ruleWords reads a rule: "if country in [de, fr] and appVersion ≥ 2.1.0
// (version) → on"; a rule without conditions is "everyone → on".
func ruleWords(r shipgate.FlagRule) string {
	who := "everyone"
	if len(r.When) > 0 {
		conds := make([]string, len(r.When))
		for i, c := range r.When {
			conds[i] = conditionWords(c)
		}
		who = "if " + strings.Join(conds, " and ")
	}
	what := r.Variant
	if r.Rollout != nil {
		what = fmt.Sprintf("split %s by %s", splitWords(r.Rollout.Split), r.Rollout.Attribute())
	}
	return who + " → " + what
}

// valueWords writes a condition's or variant's value compactly: strings
// bare, lists in brackets, JSON values as JSON.
func valueWords(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = valueWords(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case nil:
		return "null"
	case bool, float64, int, int64:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// variantRow is one variant of a flag with its value and roles.
type variantRow struct {
	Name    string
	Value   string
	Default bool
	Safe    bool
}

// variantRows lists a flag's variants by name.
func variantRows(f *shipgate.Flag) []variantRow {
	var out []variantRow
	for _, name := range slices.Sorted(maps.Keys(f.Variants)) {
		v := f.Variants[name]
		val := valueWords(v)
		if _, ok := v.(string); ok {
			val = strconv.Quote(val)
		}
		out = append(out, variantRow{Name: name, Value: val, Default: name == f.DefaultVariant, Safe: name == f.SafeVariant})
	}
	return out
}

// flagChangeWords says what a change did, before → after, one line a field.
func flagChangeWords(c *shipgate.FlagChange) []string {
	b, a := c.Before, c.After
	switch {
	case b == nil && a == nil:
		return nil
	case b == nil:
		return []string{"created: " + flagState(a, nil).Words}
	case a == nil:
		return []string{"removed (was " + flagState(b, nil).Words + ")"}
	}
	var out []string
	add := func(what, before, after string) {
		if before != after {
			out = append(out, what+": "+before+" → "+after)
		}
	}
	add("state", enabledWords(b), enabledWords(a))
	add("default variant", b.DefaultVariant, a.DefaultVariant)
	add("safe variant", b.SafeVariant, a.SafeVariant)
	add("rollout", rolloutWords(b.Rollout), rolloutWords(a.Rollout))
	add("type", string(b.Type), string(a.Type))
	add("description", quoted(b.Description), quoted(a.Description))
	for _, name := range slices.Sorted(maps.Keys(union(b.Variants, a.Variants))) {
		bv, bok := b.Variants[name]
		av, aok := a.Variants[name]
		switch {
		case !bok:
			out = append(out, fmt.Sprintf("variant %s added: %s", name, valueWords(av)))
		case !aok:
			out = append(out, fmt.Sprintf("variant %s removed (was %s)", name, valueWords(bv)))
		default:
			add("variant "+name, valueWords(bv), valueWords(av))
		}
	}
	br, ar := rulesWords(b.Rules), rulesWords(a.Rules)
	for i := 0; i < max(len(br), len(ar)); i++ {
		switch {
		case i >= len(br):
			out = append(out, fmt.Sprintf("rule %d added: %s", i+1, ar[i]))
		case i >= len(ar):
			out = append(out, fmt.Sprintf("rule %d removed: %s", i+1, br[i]))
		default:
			add(fmt.Sprintf("rule %d", i+1), br[i], ar[i])
		}
	}
	if len(out) == 0 {
		out = append(out, "no change to the definition")
	}
	return out
}

func enabledWords(f *shipgate.Flag) string {
	if f.Disabled {
		return "off (serves " + f.Served() + ")"
	}
	return "on"
}

func rolloutWords(r *shipgate.FlagRollout) string {
	if r == nil {
		return "none"
	}
	return splitWords(r.Split) + " by " + r.Attribute()
}

func rulesWords(rules []shipgate.FlagRule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = ruleWords(r)
	}
	return out
}

func quoted(s string) string {
	if s == "" {
		return "none"
	}
	return strconv.Quote(s)
}

func union(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]any{}
	}
	maps.Copy(out, b)
	return out
}

// splitBar is one segment of a rollout bar: a variant's share.
type splitBar struct {
	Variant string
	Percent string // for the text
	Width   string // CSS-free: the SVG rect's width in percent
	X       string
	Shade   int // 0..3, alternating fills; the text tells the values
}

// splitBars lays a split out as segments of a 100-wide bar.
func splitBars(split []shipgate.FlagSplit) []splitBar {
	var out []splitBar
	x := 0.0
	for i, s := range split {
		out = append(out, splitBar{Variant: s.Variant, Percent: percent(s.Percent),
			Width: strconv.FormatFloat(s.Percent, 'f', 2, 64), X: strconv.FormatFloat(x, 'f', 2, 64), Shade: i % 4})
		x += s.Percent
	}
	return out
}

package shipgate

import (
	"strings"
	"testing"
	"time"
)

func TestConditionLanguage(t *testing.T) {
	ev := EvidenceInput([]Evidence{
		{Type: "coverage", Summary: map[string]any{"line_percent": 85.5}},
		{Type: "scan", Summary: map[string]any{"high": 1, "critical": 0, "tool": "trivy"}},
		{Type: "sbom", Summary: map[string]any{"components": 12}},
		{Type: "signature", Summary: map[string]any{"verified": true}},
	})
	for _, tt := range []struct {
		cond  string
		holds bool
		why   string
	}{
		{"coverage.line_percent >= 80", true, "coverage.line_percent is 85.5"},
		{"coverage.line_percent >= 90", false, "coverage.line_percent is 85.5, wanted >= 90"},
		{"scan.high + scan.critical == 0", false, "scan.high + scan.critical is 1, wanted == 0"},
		{"scan.critical == 0", true, ""},
		{"sbom present", true, "sbom present"},
		{"tests present", false, "no tests evidence"},
		{"signature verified", true, "signature verified"},
		{"sbom verified", false, "sbom not verified"},
		{"sbom present and coverage.line_percent > 80", true, ""},
		{"tests.failed == 0", false, "no evidence gives tests.failed"},
		{"scan.tool == 0", false, "scan.tool is trivy, not a number"},
		{"1 + 2 < 4", true, ""},
	} {
		c, err := ParseCondition(tt.cond)
		if err != nil {
			t.Fatalf("%q: %v", tt.cond, err)
		}
		holds, why := c.Eval(ev)
		if holds != tt.holds || !strings.Contains(why, tt.why) {
			t.Errorf("%q: %v %q; want %v %q", tt.cond, holds, why, tt.holds, tt.why)
		}
	}
	for cond, want := range map[string]string{
		"":                          "empty",
		"coverage.line_percent":     "needs a comparison",
		"coverage.line_percent = 8": "not an operator",
		"coverage >= ":              "ends where a path",
		"sbom present or x present": "join conditions with \"and\"",
		"sbom present and":          "ends after",
		"80 present":                "follows one evidence path",
		"a + b present":             "follows one evidence path",
		"x >= 80; rm -rf":           "not allowed",
		"x ~ 1":                     "not allowed",
		"x.. >= 1":                  "not an evidence path",
		strings.Repeat("a", 501):    "longer than",
	} {
		if _, err := ParseCondition(cond); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want an error mentioning %q", cond, err, want)
		}
	}
}

func TestEvaluateChecklistManualTicks(t *testing.T) {
	items := []ChecklistItem{{Name: "qa sign-off", Gate: GateStart, Manual: &ManualCheck{Owner: "qa"}}}
	st := EvaluateChecklist(items, map[string]any{}, nil)
	if st[0].Holds || st[0].Gate != GateStart || !strings.Contains(st[0].Why, "a member of qa") {
		t.Fatalf("%+v", st[0])
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st = EvaluateChecklist(items, map[string]any{}, []ChecklistTick{{Item: "qa sign-off", Actor: "quinn", Link: "https://t/1", At: at}})
	if !st[0].Holds || st[0].Tick.Actor != "quinn" || st[0].Why != "ticked by quinn at 2026-01-02T03:04:05Z: https://t/1" {
		t.Fatalf("%+v", st[0])
	}
	if u := UnmetItems(EvaluateChecklist(items, nil, nil), GateStart); len(u) != 1 || !strings.HasPrefix(u[0], "qa sign-off (") {
		t.Fatalf("unmet %v", u)
	}
}

func TestFreezeCoversAndValidates(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	f := Freeze{ID: 1, Environment: "production", From: now.Add(-time.Hour), To: now.Add(time.Hour), Reason: "black friday"}
	if !f.Covers("shop", "production", now) || f.Covers("shop", "staging", now) || f.Covers("shop", "production", f.To) {
		t.Fatal("covers")
	}
	if ActiveFreeze([]Freeze{f}, "shop", "production", now) == nil {
		t.Fatal("active")
	}
	for name, tt := range map[string]Freeze{
		"no reason":     {Environment: "p", From: now, To: now.Add(time.Hour)},
		"ends first":    {Environment: "p", From: now, To: now.Add(-time.Hour), Reason: "x"},
		"over":          {Environment: "p", From: now.Add(-2 * time.Hour), To: now.Add(-time.Hour), Reason: "x"},
		"too long":      {Environment: "p", From: now, To: now.Add(100 * 24 * time.Hour), Reason: "x"},
		"bad env":       {Environment: "Prod uction", From: now, To: now.Add(time.Hour), Reason: "x"},
		"reason 2 line": {Environment: "p", From: now, To: now.Add(time.Hour), Reason: "a\nb"},
	} {
		if err := tt.Validate(now); ErrorCode(err) != EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

package policy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/policy"
)

// TestGovernanceDocExamples compiles every policy in docs/governance.md
// and checks the seed's gates say what the page says they do.
func TestGovernanceDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/governance.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```rego\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	compiled := map[string]*policy.Compiled{}
	for _, b := range blocks {
		src := b[1]
		if strings.Contains(src, "_test\n") {
			continue // a test module: `policy test` runs those
		}
		name, err := policy.NameOf("doc.rego", src)
		if err != nil {
			t.Fatalf("%v\n%s", err, src)
		}
		c, err := policy.Compile(shipgate.PolicyBundle{Modules: []shipgate.PolicyModule{{Name: name, Filename: name + ".rego", Source: src}}})
		if err != nil {
			t.Fatalf("example %s does not compile: %v", name, err)
		}
		compiled[name] = c
	}
	for _, want := range []string{"no_latest", "coverage", "scans", "signed", "ticket_required", "change_window"} {
		if compiled[want] == nil {
			t.Fatalf("no example %s", want)
		}
	}
	judge := func(name, point string, at time.Time, edit func(*shipgate.Release), ev map[string]any) shipgate.PolicyResult {
		t.Helper()
		r := release()
		r.Artifact.Location, r.Artifact.SHA256 = "registry.example/shop:1.2.3", "abc"
		if edit != nil {
			edit(r)
		}
		if ev == nil {
			ev = shipgate.EvidenceInput(nil)
		}
		d, err := compiled[name].Decide(ctx, policy.Facts{Point: point, Release: r, Actor: "a", Time: at, Evidence: ev})
		if err != nil {
			t.Fatal(err)
		}
		if d.Result == shipgate.PolicyError {
			t.Fatalf("%s: %s", name, d.Error)
		}
		return d.PolicyResult
	}
	tuesday10 := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name, point string
		at          time.Time
		edit        func(*shipgate.Release)
		ev          map[string]any
		deny        string
	}{
		{"no_latest", "create", tuesday10, func(r *shipgate.Release) { r.Artifact.Location = "registry.example/shop:latest" }, nil, "uses the :latest tag"},
		{"no_latest", "create", tuesday10, nil, nil, ""},
		{"coverage", "approve", tuesday10, nil, map[string]any{"coverage": map[string]any{"line_percent": 75.0}, "items": []any{}}, "line coverage 75% is below 80%"},
		{"coverage", "approve", tuesday10, nil, map[string]any{"coverage": map[string]any{"line_percent": 85.0}, "items": []any{}}, ""},
		{"coverage", "approve", tuesday10, nil, nil, "no coverage evidence"},
		{"scans", "approve", tuesday10, nil, map[string]any{"scan": map[string]any{"high": 1, "critical": 2}, "items": []any{}}, "found 3 high or critical"},
		{"scans", "approve", tuesday10, nil, map[string]any{"scan": map[string]any{"low": 4}, "items": []any{}}, ""},
		{"signed", "start", tuesday10, nil, nil, "has no verified signature"},
		{"ticket_required", "create", tuesday10, func(r *shipgate.Release) { r.Inputs = map[string]string{"ticket": "TBD"} }, nil, "a change ticket"},
		{"ticket_required", "create", tuesday10, func(r *shipgate.Release) { r.Inputs = map[string]string{"ticket": "CHG-42"} }, nil, ""},
		{"change_window", "start", tuesday10, nil, nil, ""},
		{"change_window", "start", time.Date(2026, 3, 6, 10, 0, 0, 0, time.UTC), nil, nil, "no starts on Friday"},
		{"change_window", "start", time.Date(2026, 3, 3, 17, 0, 0, 0, time.UTC), nil, nil, "no starts after 16:00"},
		{"change_window", "create", time.Date(2026, 3, 6, 10, 0, 0, 0, time.UTC), nil, nil, ""},
	}
	for _, c := range cases {
		res := judge(c.name, c.point, c.at, c.edit, c.ev)
		got := strings.Join(res.Deny, "; ")
		if c.deny == "" && got != "" || c.deny != "" && !strings.Contains(got, c.deny) {
			t.Errorf("%s at %s %s: deny %q; want %q", c.name, c.point, c.at.Weekday(), got, c.deny)
		}
	}
}

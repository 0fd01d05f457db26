package shipgate

import (
	"strings"
	"testing"
	"time"
)

func TestAgentTokenAdmitLabels(t *testing.T) {
	tok := &AgentToken{ID: 7, Scope: map[string]string{"role": "web", "zone": "a"}}
	tests := []struct {
		labels map[string]string
		want   string // "" admits
	}{
		{map[string]string{"role": "web", "zone": "a"}, ""},
		{map[string]string{"role": "web", "zone": "a", "disk": "ssd"}, ""},
		{map[string]string{"role": "web", "zone": "b"}, "label zone=b is outside it (the scope wants zone=a)"},
		{map[string]string{"zone": "a"}, "the agent must have label role=web, and it has no label role"},
		{map[string]string{"role": "web", "zone": "a", "shipgate.local": "true"}, "label shipgate.local is reserved"},
		{map[string]string{"role": "web", "zone": "a", "SHIPGATE.x": "1"}, "label SHIPGATE.x is reserved"},
	}
	for _, tt := range tests {
		err := tok.AdmitLabels(tt.labels)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.labels, err)
		case tt.want != "" && (ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "role=web,zone=a") && !strings.Contains(tt.want, "reserved")):
			t.Errorf("%v: %v, want forbidden %q", tt.labels, err, tt.want)
		}
	}
	if err := (&AgentToken{}).AdmitLabels(map[string]string{"shipgate.local": "true"}); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("an unscoped token admitted a reserved label: %v", err)
	}
}

func TestAgentTokenValidateAndExpiry(t *testing.T) {
	tok := &AgentToken{Scope: map[string]string{"role": "web"}, Envs: []string{"staging", "production", "staging"}}
	if err := tok.Validate(); err != nil || strings.Join(tok.Envs, ",") != "production,staging" {
		t.Fatalf("valid token: %v %v", tok.Envs, err)
	}
	for _, bad := range []*AgentToken{
		{Scope: map[string]string{"shipgate.local": "true"}},
		{Scope: map[string]string{"a b": "x"}},
		{Envs: []string{"Prod"}},
	} {
		if err := bad.Validate(); ErrorCode(err) != EINVALID {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := now.Add(time.Hour)
	tok.ExpiresAt = &at
	if tok.Expired(now) || !tok.Expired(at) || (&AgentToken{}).Expired(now) {
		t.Fatal("expiry")
	}
}

// An agent registered with a reserved label before such labels were
// refused still never matches on it: only the built-in runner is
// shipgate.local.
func TestAgentInfoIgnoresReservedLabels(t *testing.T) {
	a := &Agent{Name: "old", Labels: map[string]string{"shipgate.local": "true", "role": "web"}, Envs: []string{"staging"}}
	ri := a.Info()
	if ri.Matches(map[string]string{"shipgate.local": "true"}) || !ri.Matches(map[string]string{"role": "web"}) || a.Labels["shipgate.local"] != "true" {
		t.Fatalf("info %+v of agent %+v", ri, a)
	}
	if !ri.MayRun("staging") || ri.MayRun("production") || !(RunnerInfo{}).MayRun("production") {
		t.Fatal("environments")
	}
}

// Label names are plain ASCII, so a name shows as what it is: no
// look-alike of the reserved prefix (ſhipgate., U+017F LONG S) and no
// invisible character inside one. Values are one line of printable text.
func TestValidateLabels(t *testing.T) {
	for _, ok := range []map[string]string{
		{"role": "web", "zone": "a", "disk": "ssd"},
		{"kubernetes.io/arch": "amd64", "team_name": "payments-eu", "A1": "Zürich 日本", "v": ""},
		{strings.Repeat("a", 63): strings.Repeat("é", 128)},
		{"shipgate.local": "true"}, // well-formed; AdmitLabels and Validate refuse it as reserved
	} {
		if err := ValidateLabels(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, tt := range []struct {
		labels map[string]string
		msg    string
	}{
		{map[string]string{"": "x"}, `label name "" is not valid`},
		{map[string]string{"a b": "x"}, `label name "a b" is not valid`},
		{map[string]string{"k=v": "x"}, `label name "k=v" is not valid`},
		{map[string]string{"a,b": "x"}, `label name "a,b" is not valid`},
		{map[string]string{"-x": "x"}, `label name "-x" is not valid: use 1-63 ASCII letters, digits`},
		{map[string]string{".hidden": "x"}, `label name ".hidden" is not valid`},
		{map[string]string{strings.Repeat("a", 64): "x"}, "is not valid"},
		{map[string]string{"shipgate\u200b.local": "true"}, `label name "shipgate\u200b.local" is not valid`},
		{map[string]string{"\u017fhipgate.local": "true"}, `label name "ſhipgate.local" is not valid`},
		{map[string]string{"zoné": "a"}, `label name "zoné" is not valid`},
		{map[string]string{"role": "web\x1b[0m"}, `label "role" has a value that is not valid`},
		{map[string]string{"role": "web\u200b"}, `label "role" has a value that is not valid: the value contains the invisible character "\u200b"`},
		{map[string]string{"role": "web,zone=a"}, `label "role" has a value that is not valid`},
		{map[string]string{"role": strings.Repeat("a", 257)}, `label "role" has a value that is not valid`},
	} {
		err := ValidateLabels(tt.labels)
		if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: %v; want invalid, mentioning %s", tt.labels, err, tt.msg)
		}
	}
}

// The reserved prefix cannot be dodged by case or by characters that fold
// to its letters (U+017F LONG S folds to s), even
// where a caller skipped ValidateLabels.
func TestReservedLabelFolding(t *testing.T) {
	for _, k := range []string{"shipgate.local", "SHIPGATE.local", "ShipGate.x", "\u017fhipgate.local", "\u017fHIPGATE.local", "sHiPgAtE.\u017fneaky"} {
		if !reservedLabel(k) {
			t.Errorf("%q is not reserved", k)
		}
		if err := (&AgentToken{}).AdmitLabels(map[string]string{k: "true"}); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("%q admitted: %v", k, err)
		}
	}
	for _, k := range []string{"shipgate", "shipgatelocal", "myshipgate.x", "shipgat.x", "ſhipgat"} {
		if reservedLabel(k) {
			t.Errorf("%q is reserved", k)
		}
	}
}

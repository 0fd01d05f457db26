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

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const governedFlagService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
      rules:
        - name: staff
          when: [{ attribute: email, op: regex, value: '@example\.com$' }]
          variant: "on"
  environments:
    - name: staging
    - name: production
      flag_approvals: { required: 1, from_groups: [release-managers] }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo deploy
`

type flagChangeJSON struct {
	ID          int64  `json:"id"`
	Op          string `json:"op"`
	State       string `json:"state"`
	Awaiting    string `json:"awaiting"`
	RequestedBy string `json:"requested_by"`
}

type flagViewJSON struct {
	Flag struct {
		Version int64 `json:"version"`
		Flag    struct {
			Disabled bool `json:"disabled"`
			Rollout  *struct {
				Split []struct {
					Variant string  `json:"variant"`
					Percent float64 `json:"percent"`
				} `json:"split"`
			} `json:"rollout"`
		} `json:"flag"`
	} `json:"flag"`
	Pending []flagChangeJSON `json:"pending"`
}

// Issue 15, "Done when": flag changes requiring approval cannot be
// self-approved; kill works without approval and is audited with its
// reason — end to end with the built binary.
func TestFlagGovernanceE2E(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "olga", "--role", "deployer", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "amy", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "vic", "--role", "viewer")
	for _, u := range []string{"olga", "amy", "vic"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(governedFlagService), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")
	if out := s.ok("vic", "flag", "list", "shop", "--env", "production"); !strings.Contains(out, "new-checkout") || !strings.Contains(out, "on: targeting") {
		t.Fatalf("flag list:\n%s", out)
	}
	show := func() flagViewJSON {
		var v flagViewJSON
		s.jsonOut(&v, "vic", "flag", "show", "shop", "new-checkout", "--env", "production")
		return v
	}

	// A change in production waits, and says who may approve.
	out := s.ok("olga", "flag", "rollout", "shop", "new-checkout", "--env", "production", "--split", "on=10,off=90", "--reason", "ramp up to 10%")
	for _, want := range []string{"waits for approval", `needs 1 more approval (of 1) from members of "release-managers": amy may approve`, "olga asked for it and may not approve it", "shipgate flag approve"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rollout output lacks %q:\n%s", want, out)
		}
	}
	v := show()
	if len(v.Pending) != 1 || v.Flag.Flag.Rollout != nil {
		t.Fatalf("a pending change applied: %+v", v)
	}
	id := fmt.Sprint(v.Pending[0].ID)
	// Its requester cannot approve it, and nothing changes.
	s.fails("never self-approved", "olga", "flag", "approve", id)
	if v := show(); len(v.Pending) != 1 || v.Flag.Flag.Rollout != nil {
		t.Fatalf("a refused self-approval changed something: %+v", v)
	}
	// Another member of release-managers can; it applies.
	if out := s.ok("amy", "flag", "approve", id, "--comment", "fine"); !strings.Contains(out, "applied") {
		t.Fatalf("approve:\n%s", out)
	}
	if v := show(); len(v.Pending) != 0 || v.Flag.Flag.Rollout == nil || v.Flag.Flag.Rollout.Split[0].Percent != 10 {
		t.Fatalf("approved change not applied: %+v", v)
	}
	text := s.ok("vic", "flag", "show", "shop", "new-checkout", "--env", "production")
	for _, want := range []string{`rule 1 (staff): if email regex /@example\.com$/: serve on`, "everyone else: split on 10%, off 90% by targetingKey", "approved by amy"} {
		if !strings.Contains(text, want) {
			t.Fatalf("flag show lacks %q:\n%s", want, text)
		}
	}

	// The kill: no approval, at once, audited with its reason.
	s.fails("permission", "vic", "flag", "kill", "shop", "new-checkout", "--env", "production", "--reason", "x")
	s.fails("reason", "olga", "flag", "kill", "shop", "new-checkout", "--env", "production")
	out = s.ok("olga", "flag", "kill", "shop", "new-checkout", "--env", "production", "--reason", "INC-42 checkout returns 500")
	if !strings.Contains(out, "kill new-checkout in production: serves off to everyone") {
		t.Fatalf("kill output:\n%s", out)
	}
	if v := show(); !v.Flag.Flag.Disabled {
		t.Fatal("the kill did not apply at once")
	}
	if text := s.ok("vic", "flag", "show", "shop", "new-checkout", "--env", "production"); !strings.Contains(text, "killed: serves off to everyone") {
		t.Fatalf("flag show after the kill:\n%s", text)
	}
	var events []struct {
		Actor, Action, Subject string
		Details                json.RawMessage
	}
	s.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	var killed []map[string]any
	for _, e := range events {
		if e.Action == "flag.killed" {
			if e.Actor != "olga" || e.Subject != "flag/shop/production/new-checkout" {
				t.Fatalf("kill event: %+v", e)
			}
			var d map[string]any
			json.Unmarshal(e.Details, &d)
			killed = append(killed, d)
		}
	}
	if len(killed) != 1 {
		t.Fatalf("want one flag.killed event, got %d", len(killed))
	}
	d := killed[0]
	before, _ := d["before"].(map[string]any)
	after, _ := d["after"].(map[string]any)
	if d["reason"] != "INC-42 checkout returns 500" || d["severity"] != "incident" || d["op"] != "kill" || before == nil || before["disabled"] == true || after["disabled"] != true || after["rollout"] == nil {
		t.Fatalf("kill audit details: %v", d)
	}
	// Killing it again says so and changes nothing.
	s.fails("killed already", "olga", "flag", "kill", "shop", "new-checkout", "--env", "production", "--reason", "again")

	// Turning it back on is governed again.
	out = s.ok("olga", "flag", "enable", "shop", "new-checkout", "--env", "production", "--reason", "fixed in 2.0.1")
	if !strings.Contains(out, "waits for approval") {
		t.Fatalf("enable:\n%s", out)
	}
	var pending []flagChangeJSON
	s.jsonOut(&pending, "vic", "flag", "changes", "--pending")
	if len(pending) != 1 || pending[0].Op != "enable" || pending[0].RequestedBy != "olga" {
		t.Fatalf("pending changes: %+v", pending)
	}
	s.fails("comment", "amy", "flag", "reject", fmt.Sprint(pending[0].ID))
	if out := s.ok("amy", "flag", "reject", fmt.Sprint(pending[0].ID), "--comment", "wait for the postmortem"); !strings.Contains(out, "rejected") {
		t.Fatalf("reject:\n%s", out)
	}
	if v := show(); !v.Flag.Flag.Disabled {
		t.Fatal("a rejected enable applied")
	}
}

// flag set reads one flag in the service-file syntax: bad definitions are
// file:line errors and change nothing; a good one applies at once where
// no approvals are required.
func TestFlagSetE2E(t *testing.T) {
	s := startServer(t)
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(governedFlagService), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")
	os.WriteFile(filepath.Join(s.workDir, "dark.yaml"), []byte("key: dark-mode\ntype: boolean\nvariants: {\"on\": true, \"off\": false}\ndefault_variant: \"off\"\nsafe_variant: \"of\"\n"), 0o644)
	s.fails(`dark.yaml:5: safe_variant "of" is not a variant`, "admin", "flag", "set", "shop", "dark-mode", "--env", "staging", "--file", "dark.yaml", "--reason", "new")
	if out := s.ok("admin", "flag", "list", "shop", "--env", "staging"); strings.Contains(out, "dark-mode") {
		t.Fatalf("a bad flag file created a flag:\n%s", out)
	}
	os.WriteFile(filepath.Join(s.workDir, "dark.yaml"), []byte("key: dark-mode\ntype: boolean\nvariants: {\"on\": true, \"off\": false}\ndefault_variant: \"off\"\nsafe_variant: \"off\"\n"), 0o644)
	s.fails(`defines flag "dark-mode", not "dark"`, "admin", "flag", "set", "shop", "dark", "--env", "staging", "--file", "dark.yaml", "--reason", "new")
	if out := s.ok("admin", "flag", "set", "shop", "dark-mode", "--env", "staging", "--file", "dark.yaml", "--reason", "new"); !strings.Contains(out, "set dark-mode in staging (change") {
		t.Fatalf("set:\n%s", out)
	}
	if out := s.ok("admin", "flag", "show", "shop", "dark-mode", "--env", "staging"); !strings.Contains(out, "set by people, not declared in the service file") || !strings.Contains(out, "everyone: serve off") {
		t.Fatalf("show:\n%s", out)
	}
	s.fails("nothing to change", "admin", "flag", "set", "shop", "dark-mode", "--env", "staging", "--file", "dark.yaml", "--reason", "again")
	s.fails("--split", "admin", "flag", "rollout", "shop", "dark-mode", "--env", "staging", "--reason", "r")
	s.fails("sum to 90", "admin", "flag", "rollout", "shop", "dark-mode", "--env", "staging", "--split", "on=10,off=80", "--reason", "r")
}

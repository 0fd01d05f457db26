package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every read command takes -o json and prints JSON (a document, or JSON
// Lines for the streams): the README promises it for each. The test walks
// the whole command tree, so a new command must be listed here as a read
// command with arguments to run it, or as one that changes or runs things.
func TestEveryReadCommandPrintsJSON(t *testing.T) {
	// Commands that change something or run a process; their -o, when they
	// have one, is not what this test checks.
	notRead := []string{
		"serve", "apply", "admin reset-token", "approve", "reject", "cancel", "rerun", "promote",
		"release create", "rollback", "rollback hold", "rollback now", "rollback call-off",
		"user create", "user set-roles", "user disable", "user enable",
		"token create", "token revoke", "group add", "group remove",
		"agent", "agent drain", "agent token create", "agent token revoke",
		"artifact gc", "audit checkpoint", "policy apply", "policy test",
		"evidence add", "evidence download",
		"flag key create", "flag key revoke",
		"checklist tick", "freeze create", "freeze end", "freeze override", "freeze approve-override",
		"flag set", "flag enable", "flag disable", "flag rollout", "flag kill", "flag approve", "flag reject",
		"demo", "demo-app", "demo-app restart", "bench judges", "bench router", "bench router backend", "bench router proxy",
		"completion bash", "completion fish", "completion powershell", "completion zsh", "help",
		// release bundle writes a file with -o; verify-bundle reads one, offline
		// (its -o json is checked in bundle_e2e_test.go).
		"release bundle", "verify-bundle",
	}
	// The stream commands print JSON Lines.
	lines := []string{"audit export", "release logs"}
	read := map[string][]string{
		"whoami": nil, "version": nil,
		"release list": nil, "release show": {"1"}, "release logs": {"1"}, "release wait": {"1"},
		"service list": nil, "service show": {"shop"}, "service history": {"shop"},
		"audit list": nil, "audit verify": nil, "audit export": nil, "audit public-key": nil,
		"user list": nil, "token list": nil, "group list": nil,
		"agent list": nil, "agent token list": nil, "artifact list": nil, "notify list": nil,
		"freeze list": nil, "flag key list": nil,
		"policy list": nil, "policy show": {"p"}, "policy decisions": nil, "policy replay": {"1"},
		"policy eval":   {"--releases", "1..5", "--point", "create"},
		"evidence list": {"1"}, "evidence show": {"1"},
		"flag list": nil, "flag show": {"shop", "beta", "--env", "staging"}, "flag changes": nil,
		"metrics dora":  nil,
		"metrics gates": nil,
	}
	m := &Main{Getenv: func(string) string { return "" }}
	var leaves []string
	eachCommand(m.rootCommand(), func(c *cobra.Command) {
		if c.HasSubCommands() || !c.HasParent() { // groups, and the runnable agent and rollback, listed below
			return
		}
		leaves = append(leaves, strings.Join(commandArgs(c), " "))
	})
	for _, name := range leaves {
		_, isRead := read[name]
		if !isRead && !slices.Contains(notRead, name) {
			t.Errorf("command %q is neither a read command (with -o json) nor listed as changing things", name)
		}
	}
	for name := range read {
		if !slices.Contains(leaves, name) {
			t.Errorf("read command %q is gone", name)
		}
	}

	s := startServer(t)
	svc := filepath.Join(s.workDir, "shipgate.yaml")
	os.WriteFile(svc, []byte(e2eService), 0o644)
	os.WriteFile(filepath.Join(s.workDir, "shop-1.0.tar"), []byte("shop 1.0"), 0o644)
	// The file's from_groups names release-managers: it needs a member.
	s.ok("admin", "user", "create", "rm", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "apply", "-f", svc)
	s.ok("admin", "release", "create", "shop", "--env", "staging", "--version", "1.0", "--artifact", "shop-1.0.tar")
	// A policy judging a second service's release: decision 1.
	os.WriteFile(filepath.Join(s.workDir, "p.rego"), []byte("package shipgate.p\n\nwarn contains \"noted\" if true\n"), 0o644)
	s.ok("admin", "policy", "apply", "-f", filepath.Join(s.workDir, "p.rego"))
	os.WriteFile(filepath.Join(s.workDir, "gated.yaml"), []byte(strings.NewReplacer("name: shop", "name: gated", "approvals: { required: 0 }", "approvals: { required: 0 }\n      policies: [p]").Replace(e2eService)), 0o644)
	s.ok("admin", "apply", "-f", filepath.Join(s.workDir, "gated.yaml"))
	s.ok("admin", "release", "create", "gated", "--env", "staging", "--version", "1.0", "--artifact", "shop-1.0.tar")
	// A flag set by hand: flag show reads it.
	os.WriteFile(filepath.Join(s.workDir, "beta.yaml"), []byte("key: beta\ntype: boolean\nvariants: {\"on\": true, \"off\": false}\ndefault_variant: \"off\"\nsafe_variant: \"off\"\n"), 0o644)
	s.ok("admin", "flag", "set", "shop", "beta", "--env", "staging", "--file", "beta.yaml", "--reason", "try it")
	// Evidence 1, on release 1.
	s.ok("admin", "evidence", "add", "1", "--type", "link", "--url", "https://tickets.example.com/CHG-1", "--title", "change ticket")
	for name, args := range read {
		r := s.run("admin", append(append(strings.Fields(name), args...), "-o", "json")...)
		if r.code != 0 {
			t.Errorf("shipgate %s -o json: exit %d\n%s", name, r.code, r.stderr)
			continue
		}
		if slices.Contains(lines, name) {
			sc := bufio.NewScanner(strings.NewReader(r.stdout))
			sc.Buffer(nil, 1<<20)
			n := 0
			for sc.Scan() {
				n++
				if !json.Valid(sc.Bytes()) {
					t.Errorf("shipgate %s -o json: line %d is not JSON: %q", name, n, sc.Text())
				}
			}
			if n == 0 {
				t.Errorf("shipgate %s -o json printed nothing", name)
			}
			continue
		}
		if !json.Valid([]byte(r.stdout)) || strings.TrimSpace(r.stdout) == "" {
			t.Errorf("shipgate %s -o json: not one JSON document:\n%s", name, r.stdout)
		}
	}
}

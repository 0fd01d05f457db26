package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRollbackCallOffCommand: `shipgate rollback call-off ID --reason R`
// ends a pending rollback, then a held one, without rolling back; it
// needs a reason, says what it did (and with -o json gives the release),
// and a second call-off is refused in words.
func TestRollbackCallOffCommand(t *testing.T) {
	s := startServer(t, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_rollback-calloff-admin-token")
	s.tokens["admin"] = "sgp_rollback-calloff-admin-token"
	svc := `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: prod
      rollback: {enabled: true, check_target: pipeline, delay_seconds: 600}
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: test "$SHIPGATE_INPUT_OK" = yes
`
	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(svc), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
	deploy := func(version, ok string) int64 {
		r := s.create("admin", "web", "--env", "prod", "--version", version, "--artifact", "a.tar", "--input", "ok="+ok)
		s.run("admin", "release", "wait", fmt.Sprint(r.ID))
		return r.ID
	}
	deploy("1.0", "yes")
	bad := deploy("1.1", "no")
	id := fmt.Sprint(bad)

	s.fails("rollback call-off needs --reason", "admin", "rollback", "call-off", id)
	var v struct {
		State    string `json:"state"`
		Rollback struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"rollback"`
	}
	s.jsonOut(&v, "admin", "rollback", "call-off", id, "--reason", "the errors came from the load balancer")
	if v.State != "failed" || v.Rollback.State != "called_off" || v.Rollback.Reason != "called off by admin: the errors came from the load balancer" {
		t.Fatalf("call-off -o json: %+v", v)
	}
	if out := s.ok("admin", "release", "show", id); !strings.Contains(out, "rollback to version 1.0") || !strings.Contains(out, "called off: called off by admin: the errors came from the load balancer") {
		t.Fatalf("release show after the call-off:\n%s", out)
	}
	s.fails("only a pending or held rollback can be called off", "admin", "rollback", "call-off", id, "--reason", "again")

	// A held rollback is called off the same way; the text says so.
	held := fmt.Sprint(deploy("1.2", "no"))
	s.ok("admin", "rollback", "hold", held, "--reason", "looking")
	if out := s.ok("admin", "rollback", "call-off", held, "--reason", "looked: 1.2 is fine"); !strings.Contains(out, "release "+held+": rollback to version 1.0") ||
		!strings.Contains(out, "called off: called off by admin: looked: 1.2 is fine") {
		t.Fatalf("call-off of a held rollback: %s", out)
	}

	var events []struct {
		Actor, Action string
		Details       map[string]any
	}
	s.jsonOut(&events, "admin", "audit", "list", "--release", id, "--limit", "0")
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Actor+":"+e.Action)
		if e.Action == "rollback.called_off" && (e.Details["called_by"] != "person" || e.Details["reason"] != "the errors came from the load balancer") {
			t.Fatalf("rollback.called_off details %v", e.Details)
		}
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "system:rollback.pending admin:rollback.called_off") || strings.Contains(got, "rollback.fired") {
		t.Fatalf("audit: %s", got)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/testutil"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const personService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments:
    - name: production
      approvals: {required: 2, from_groups: [release-managers]}
      notify: {sinks: [%s], renotify_after: 30m, escalate_after: 2h, escalate_to: [team]}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// TestApprovalNeededReachesTheWebhook: through the real server, a release
// that needs approvals is announced to the webhook its environment names,
// with the required groups, the tally, the command to run and a link under
// the server's public URL; the other sink hears nothing of it. A service
// file naming a sink the server does not have is refused at its line.
func TestApprovalNeededReachesTheWebhook(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	hook := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], r.Header.Get("X-Shipgate-Event")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	cfg := serverConfig(t, fmt.Sprintf(`public_url: https://shipgate.example.com
egress:
  allow: ["127.0.0.1:%s"]
notifications:
  sinks:
    - {name: team, type: webhook, url: "%s/team"}
    - {name: everyone, type: webhook, url: "%s/everyone"}
`, hook.port(), hook.URL, hook.URL))
	s := startServerWith(t, []string{"--no-local-runner", "--config", cfg})
	svc := filepath.Join(t.TempDir(), "shop.yaml")
	os.WriteFile(svc, []byte(fmt.Sprintf(personService, "tema")), 0o644)
	s.ok("admin", "user", "create", "alice", "--role", "approver", "--group", "release-managers")
	s.fails(`shop.yaml:8: sink "tema" is not configured on the server (it has "team", "everyone")`, "admin", "apply", "-f", svc)
	os.WriteFile(svc, []byte(fmt.Sprintf(personService, "team")), 0o644)
	s.ok("admin", "apply", "-f", svc)
	s.ok("admin", "user", "create", "carol", "--role", "deployer")
	s.tokens["carol"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "carol"))
	os.WriteFile(filepath.Join(s.workDir, "shop.tar"), []byte("shop 1.0"), 0o644)
	r := s.create("carol", "shop", "--env", "production", "--version", "1.0", "--artifact", "shop.tar")

	var body string
	testutil.WaitFor(t, "the approval-needed notification at the team webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range got["/team"] {
			if strings.HasPrefix(b, "dev.cdeventsx.shipgate-approval.needed.0.1.0 ") {
				body = b
				return true
			}
		}
		return false
	})
	for _, want := range []string{
		"needs 2 of release-managers (0 so far)",
		fmt.Sprintf("run `shipgate approve %d`", r.ID),
		fmt.Sprintf("https://shipgate.example.com/api/v1/releases/%d", r.ID), // for programs
		fmt.Sprintf("https://shipgate.example.com/releases/%d", r.ID),        // for people: the UI's page
		`"fromGroups":["release-managers"]`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("notification lacks %q:\n%s", want, body)
		}
	}
	var notes []struct {
		Sink      string `json:"sink"`
		EventType string `json:"event_type"`
	}
	s.jsonOut(&notes, "admin", "notify", "list")
	for _, n := range notes {
		if n.Sink != "team" && n.EventType != notify.CheckpointEventType { // checkpoints are not about releases
			t.Fatalf("sink %s was notified of a release of an environment routed to team: %+v", n.Sink, notes)
		}
	}
	if b, _ := json.Marshal(notes); !strings.Contains(string(b), "shipgate-approval.needed") {
		t.Fatalf("outbox: %s", b)
	}
}

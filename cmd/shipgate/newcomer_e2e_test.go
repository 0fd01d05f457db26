package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/runner"
	"github.com/shipgate/shipgate/internal/supervisor"
)

// Findings of a newcomer who followed the README, each held here.

// A serve that fails on its config file leaves --data as it was: absent
// when it did not exist, empty when it was empty.
func TestServeFailsBeforeTouchingData(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("notifications: [\n"), 0o644)
	absent := filepath.Join(dir, "data")
	r := runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", absent, "--config", bad)
	if r.code == 0 || !strings.Contains(r.stderr, "bad.yaml") {
		t.Fatalf("exit %d, stderr %q; want the config error", r.code, r.stderr)
	}
	if _, err := os.Stat(absent); !os.IsNotExist(err) {
		t.Fatalf("a failed serve created --data: %v", err)
	}
	r = runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", absent, "--config", filepath.Join(dir, "missing.yaml"))
	if r.code == 0 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Fatalf("exit %d, stderr %q; want the missing config named", r.code, r.stderr)
	}
	if _, err := os.Stat(absent); !os.IsNotExist(err) {
		t.Fatalf("a failed serve created --data: %v", err)
	}
	// Every address is bound first: a --metrics-listen port in use too.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r = runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", absent, "--metrics-listen", busy.Addr().String())
	if r.code == 0 || !strings.Contains(r.stderr, "--metrics-listen") || !strings.Contains(r.stderr, "address already in use") {
		t.Fatalf("exit %d, stderr %q; want the metrics bind error", r.code, r.stderr)
	}
	if _, err := os.Stat(absent); !os.IsNotExist(err) {
		t.Fatalf("a serve whose metrics port is in use created --data: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o700)
	runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", empty, "--config", bad)
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Fatalf("a failed serve wrote into --data: %v", ents)
	}
}

// A second server on the same --data is told a server already runs
// there, before any other part (the service supervisor) complains.
func TestSecondServeOnSameData(t *testing.T) {
	s := startServer(t)
	data := filepath.Join(s.dir, "data")
	r := runBinary(t, nil, "serve", "--listen", freeAddr(t), "--data", data)
	if r.code == 0 || !strings.Contains(r.stderr, "a shipgate server is already running on "+data) || strings.Contains(r.stderr, "supervis") {
		t.Fatalf("exit %d, stderr %q; want: a shipgate server is already running on %s", r.code, r.stderr, data)
	}
	// The first server is unharmed.
	s.ok("admin", "service", "list")
}

// Stopping a server (or an agent) that leaves supervised services
// running says how many and which flag would have stopped them.
func TestCloseServicesSaysWhatKeepsRunning(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	svcs, err := runner.OpenServices(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Sup.Start(supervisor.Spec{Service: "web/prod/deploy", Version: "1.0", Dir: dir, Exec: []string{"sleep", "300"}}); err != nil {
		svcs.Close()
		t.Fatal(err)
	}
	closeServices(svcs, false, logger)
	// Reopening stops the instance no rollout holds: clean up.
	defer func() {
		again, err := runner.OpenServices(dir, slog.New(slog.DiscardHandler))
		if err == nil {
			again.Close()
		}
	}()
	got := log.String()
	if !strings.Contains(got, "level=INFO") || !strings.Contains(got, "1 supervised service process keeps running") || !strings.Contains(got, "--stop-services-on-exit") {
		t.Fatalf("log on close:\n%s", got)
	}
}

// A command that takes one ID or name says what it needs, and where to
// find one, when it is left out or given twice.
func TestOneArgumentCommandsSayWhatTheyNeed(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"release", "show"}, "release show needs a release ID (see `shipgate release list`)"},
		{[]string{"release", "wait"}, "release wait needs a release ID (see `shipgate release list`)"},
		{[]string{"release", "logs", "1", "2"}, "release logs takes one release ID, not 2 (see `shipgate release list`)"},
		{[]string{"promote"}, "promote needs a release ID (see `shipgate release list`)"},
		{[]string{"approve"}, "approve needs a release ID (see `shipgate release list`)"},
		{[]string{"rollback"}, "rollback needs a service name (see `shipgate service list`)"},
		{[]string{"rollback", "now"}, "rollback now needs a release ID (see `shipgate release list`)"},
		{[]string{"service", "show"}, "service show needs a service name (see `shipgate service list`)"},
		{[]string{"user", "disable"}, "user disable needs a user name (see `shipgate user list`)"},
		{[]string{"token", "revoke"}, "token revoke needs a token ID (see `shipgate token list`)"},
		{[]string{"agent", "drain"}, "agent drain needs an agent name (see `shipgate agent list`)"},
	} {
		r := runBinary(t, nil, tt.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("shipgate %s: exit %d, stderr %q; want %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}

// An agent join token given as the user token is named as such.
func TestAgentTokenAsUserTokenHint(t *testing.T) {
	s := startServer(t)
	s.tokens["confused"] = "sga_0123456789abcdef0123456789abcdef"
	r := s.fails("unauthorized", "confused", "release", "list")
	if !strings.Contains(r.stderr, "hint: that is an agent join token (sga_…); commands need a user token (sgp_…)") {
		t.Fatalf("stderr %q", r.stderr)
	}
	// The agent itself wants exactly such a token: a refused one gets the
	// agent's hint, not the user-token one.
	a := runBinary(t, nil, "agent", "--server", s.url, "--token", "sga_0123456789abcdef0123456789abcdef", "--labels", "role=web", "--work-dir", t.TempDir())
	if a.code == 0 || strings.Contains(a.stderr, "commands need a user token") || !strings.Contains(a.stderr, "hint: the agent joins with a join token") {
		t.Fatalf("agent with a bad join token: exit %d, stderr %q", a.code, a.stderr)
	}
}

// A URL that is not shipgate's is the user's mistake, not a fault of the
// server: no "internal:" code, whatever the status.
func TestNotShipgateIsNotInternal(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusNotFound} {
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			w.Write([]byte("<html>some other service</html>"))
		}))
		r := runBinary(t, nil, "release", "list", "--server", other.URL, "--token", "sgp_x")
		other.Close()
		if r.code == 0 || strings.Contains(r.stderr, "internal:") || strings.Contains(r.stderr, "not_found:") ||
			!strings.Contains(r.stderr, "error: the server at "+other.URL+" did not answer like shipgate") || !strings.Contains(r.stderr, "hint: give the shipgate server's URL") {
			t.Fatalf("HTTP %d: exit %d, stderr %q", status, r.code, r.stderr)
		}
	}
}

// The archive of a webhook sink that gets every event (not only
// audit.checkpoint) is read as it is: other events are skipped and
// counted, in the text and in -o json.
func TestAuditVerifyReadsAWebhookArchive(t *testing.T) {
	if notify.CheckpointEventType != shipgate.AuditCheckpointEventType {
		t.Fatalf("webhooks send checkpoints as %s, audit verify looks for %s", notify.CheckpointEventType, shipgate.AuditCheckpointEventType)
	}
	s := startServer(t)
	key := strings.TrimSpace(s.ok("admin", "audit", "public-key"))
	var cp json.RawMessage
	s.jsonOut(&cp, "admin", "audit", "checkpoint")
	other := func(id string) string {
		b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "shipgate/host", "type": "dev.cdevents.pipelinerun.queued.0.2.0",
			"data": map[string]any{"context": map[string]any{"id": id}, "subject": map[string]any{"id": "release/1", "content": map[string]any{"pipelineName": "shop"}}}})
		return string(b)
	}
	event, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "c", "source": "shipgate/host", "type": shipgate.AuditCheckpointEventType,
		"data": map[string]any{"context": map[string]any{"id": "c"}, "subject": map[string]any{"id": "audit/1", "content": cp}}})
	archive := filepath.Join(t.TempDir(), "archive.jsonl")
	os.WriteFile(archive, []byte(other("a")+"\n"+string(event)+"\n"+other("b")+"\n"), 0o644)
	out := s.ok("admin", "audit", "verify", "--checkpoint", archive, "--public-key", key)
	if !strings.Contains(out, "audit chain OK") || !strings.Contains(out, "skipped 2 other events") {
		t.Fatalf("verify an archive of every event:\n%s", out)
	}
	var v struct {
		OK      bool `json:"ok"`
		Skipped *int `json:"skipped_events"`
	}
	s.jsonOut(&v, "admin", "audit", "verify", "--checkpoint", archive, "--public-key", key)
	if !v.OK || v.Skipped == nil || *v.Skipped != 2 {
		t.Fatalf("verify -o json: %+v", v)
	}
	// A line that is no event at all is refused, with its line.
	os.WriteFile(archive, []byte(other("a")+"\n"+string(event)+"\nnot json\n"), 0o644)
	s.fails("line 3 is not JSON", "admin", "audit", "verify", "--checkpoint", archive, "--public-key", key)
}

// The commands whose -o json prints one object per line say so in
// their help, where a reader expecting one JSON document looks.
func TestJSONLinesCommandsSaySo(t *testing.T) {
	for _, args := range [][]string{{"release", "logs", "--help"}, {"audit", "export", "--help"}} {
		r := runBinary(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "JSON Lines (one object per line)") {
			t.Errorf("shipgate %s:\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
}

// An artifact path outside the server's artifact roots gets a hint at
// what to do: the flag that widens them, or a URL.
func TestArtifactOutsideRootsHint(t *testing.T) {
	s := startServer(t)
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(e2eService), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml", "--allow-unknown-groups")
	outside := filepath.Join(t.TempDir(), "shop-1.0.tar")
	os.WriteFile(outside, []byte("shop 1.0"), 0o644)
	r := s.fails("outside the directories this server takes artifacts from", "admin", "release", "create", "shop", "--env", "staging", "--version", "1.0", "--artifact", outside)
	if !strings.Contains(r.stderr, "hint: start the server with --artifact-root DIR") || !strings.Contains(r.stderr, "http(s) URL") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
	_ "modernc.org/sqlite"
)

// The end-to-end tests build the real binary, start `shipgate serve` on a
// free port with a temp data dir, and drive it only through the CLI.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shipgate-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "shipgate")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build shipgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	testutil.StopPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

type server struct {
	t       testing.TB
	dir     string
	url     string
	admin   string
	cmd     *exec.Cmd
	mu      sync.Mutex
	stderr  bytes.Buffer
	tokens  map[string]string
	workDir string
	env     []string
	args    []string // extra serve flags
	listen  string
	// clientEnv is added to the environment of CLI runs (after
	// SHIPGATE_SERVER and SHIPGATE_TOKEN, so it can replace them).
	clientEnv []string
	// direct is the server's own URL; url is the OpenAPI-checking proxy
	// in front of it (apiproxy_e2e_test.go), or direct when it has none.
	direct string
	front  *apiFront
}

// freeAddr is a port for a test to bind later: testutil.FreeAddr.
func freeAddr(t testing.TB) string { return testutil.FreeAddr(t) }

func startServer(t testing.TB, extraEnv ...string) *server {
	t.Helper()
	return startServerWith(t, nil, extraEnv...)
}

// startServerWith starts serve with extra flags.
func startServerWith(t testing.TB, args []string, extraEnv ...string) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), tokens: map[string]string{}, env: extraEnv, args: args}
	s.workDir = t.TempDir()
	t.Cleanup(func() {
		s.stop()
		s.front.close() // after the server: its last exchanges are checked
		if t.Failed() {
			s.mu.Lock()
			t.Logf("server stderr:\n%s", s.stderr.String())
			s.mu.Unlock()
		}
	})
	s.start()
	s.tokens["admin"] = s.admin
	return s
}

// start runs `shipgate serve` on the server's data dir and waits until it
// listens.
func (s *server) start() {
	t := s.t
	t.Helper()
	s.url, s.admin = "", ""
	if s.listen == "" {
		s.listen = freeAddr(t) // kept across restarts, so agents find the server again
	}
	s.cmd = exec.Command(binary, append([]string{"serve", "--listen", s.listen, "--data", filepath.Join(s.dir, "data")}, s.args...)...)
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Dir = s.workDir // artifacts come from the directory the server starts in
	stdout, _ := s.cmd.StdoutPipe()
	s.cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.stderr}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for s.url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("server exited before listening:\n%s", s.stderr.String())
			}
			if tok, ok := strings.CutPrefix(line, "bootstrap admin token: "); ok {
				s.admin = tok
			}
			if i := strings.Index(line, "listening on "); i >= 0 {
				s.url = strings.Fields(line[i+len("listening on "):])[0]
			}
		case <-timeout:
			t.Fatal("server did not start listening")
		}
	}
	go func() {
		for range lines {
		}
	}()
	s.direct = s.url
	s.url = s.checkedURL()
}

// stop ends the server the way an operator does, with SIGTERM.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type result struct {
	code           int
	stdout, stderr string
}

// run executes the CLI as user.
func (s *server) run(user string, args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = s.workDir
	cmd.Env = append(append(os.Environ(), "SHIPGATE_SERVER="+s.url, "SHIPGATE_TOKEN="+s.tokens[user]), s.clientEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("run %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// ok runs a command that must succeed and returns its stdout.
func (s *server) ok(user string, args ...string) string {
	s.t.Helper()
	r := s.run(user, args...)
	if r.code != 0 {
		s.t.Fatalf("shipgate %s (as %s) exited %d:\n%s%s", strings.Join(args, " "), user, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail with stderr containing want.
func (s *server) fails(want, user string, args ...string) result {
	s.t.Helper()
	r := s.run(user, args...)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		s.t.Fatalf("shipgate %s (as %s): exit %d, stderr %q; want failure mentioning %q", strings.Join(args, " "), user, r.code, r.stderr, want)
	}
	return r
}

func (s *server) jsonOut(v any, user string, args ...string) {
	s.t.Helper()
	out := s.ok(user, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("shipgate %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

type releaseJSON struct {
	ID        int64  `json:"id"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
	Digest    string `json:"digest"`
	Run       int    `json:"run"`
	Approvals []struct {
		Actor     string  `json:"actor"`
		ExpiredAt *string `json:"expired_at"`
	} `json:"approvals"`
	Timeline []struct {
		Actor, Action string
	} `json:"timeline"`
}

func (s *server) show(id int64) releaseJSON {
	s.t.Helper()
	var r releaseJSON
	s.jsonOut(&r, "admin", "release", "show", fmt.Sprint(id))
	return r
}

func (s *server) create(user string, args ...string) releaseJSON {
	s.t.Helper()
	var r releaseJSON
	s.jsonOut(&r, user, append([]string{"release", "create"}, args...)...)
	return r
}

const e2eService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  environments:
    - name: staging
      approvals: { required: 0 }
    - name: production
      requires: [staging]
      approvals:
        required: 2
        from_groups: [release-managers]
        expires_after: 24h
    - name: hotfix
      approvals:
        required: 2
        from_groups: [release-managers]
        expires_after: 1s
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: |
              echo "deploying $SHIPGATE_VERSION from $SHIPGATE_ARTIFACT_PATH"
              echo "token is $SHIPGATE_INPUT_TOKEN"
              if [ "$SHIPGATE_INPUT_FAIL" = yes ]; then echo "boom: failing on purpose" >&2; exit 7; fi
      - name: smoke
        needs: [deploy]
        steps:
          - exec: [sh, -c, 'echo smoke ok for $SHIPGATE_VERSION']
`

func TestEndToEnd(t *testing.T) {
	s := startServer(t)
	if !strings.HasPrefix(s.admin, "sgp_") {
		t.Fatalf("no bootstrap admin token printed (got %q)", s.admin)
	}
	// People: carol prepares releases and is herself a release manager,
	// alice and bob are release managers, dave approves elsewhere.
	s.ok("admin", "user", "create", "carol", "--role", "deployer", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "alice", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "bob", "--role", "approver")
	s.ok("admin", "group", "add", "release-managers", "--user", "bob")
	s.ok("admin", "user", "create", "dave", "--role", "approver")
	for _, u := range []string{"carol", "alice", "bob", "dave"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}
	if out := s.ok("alice", "whoami"); !strings.Contains(out, "alice") {
		t.Fatalf("whoami: %s", out)
	}
	// A deployer cannot create users: refused and audited.
	s.fails("forbidden", "carol", "user", "create", "mallory", "--role", "admin")

	svcFile := filepath.Join(s.workDir, "shipgate.yaml")
	os.WriteFile(svcFile, []byte(e2eService), 0o644)
	if out := s.ok("admin", "apply", "-f", svcFile); !strings.Contains(out, "revision 1 applied") {
		t.Fatalf("apply: %s", out)
	}
	if out := s.ok("admin", "apply", "-f", svcFile); !strings.Contains(out, "unchanged") {
		t.Fatalf("second apply: %s", out)
	}
	os.WriteFile(filepath.Join(s.workDir, "shop-1.0.tar"), []byte("shop build 1.0"), 0o644)

	// Staging needs no approval and runs at once.
	stg := s.create("carol", "shop", "--env", "staging", "--version", "1.0", "--artifact", "shop-1.0.tar", "--commit", "abc123", "--committed-at", "2026-11-20T10:00:00Z")
	if out := s.ok("carol", "release", "wait", fmt.Sprint(stg.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("staging wait: %s", out)
	}

	// Production waits for two release managers.
	prod := s.create("carol", "shop", "--env", "production", "--version", "1.0", "--artifact", "shop-1.0.tar")
	if prod.State != "pending_approval" {
		t.Fatalf("production release is %s", prod.State)
	}
	id := fmt.Sprint(prod.ID)
	r := s.fails("forbidden", "carol", "approve", id)
	if !strings.Contains(r.stderr, "cannot approve it") {
		t.Fatalf("creator refusal does not say why: %s", r.stderr)
	}
	s.ok("alice", "approve", id, "--comment", "reviewed the diff")
	if got := s.show(prod.ID); got.State != "pending_approval" || !strings.Contains(got.Reason, "1 of 2") {
		t.Fatalf("after one approval: %s %q", got.State, got.Reason)
	}
	s.fails("only members of", "dave", "approve", id)
	s.ok("bob", "approve", id)
	wait := s.run("carol", "release", "wait", id)
	if wait.code != 0 || !strings.Contains(wait.stdout, "succeeded") || !strings.Contains(wait.stderr, "release "+id) {
		t.Fatalf("production wait exit %d:\n%s%s", wait.code, wait.stdout, wait.stderr)
	}
	// The refusals are in the audit log, with their actors.
	var events []struct{ Actor, Action, Subject string }
	s.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	denied := map[string]bool{}
	for _, e := range events {
		if e.Action == "access.denied" {
			denied[e.Actor+" "+e.Subject] = true
		}
	}
	for _, want := range []string{"carol release/" + id, "dave release/" + id, "carol api"} {
		if !denied[want] {
			t.Errorf("no access.denied event for %s in %v", want, denied)
		}
	}
	timeline := []string{}
	for _, e := range s.show(prod.ID).Timeline {
		timeline = append(timeline, e.Actor+":"+e.Action)
	}
	want := "carol:release.created carol:access.denied alice:release.approved dave:access.denied bob:release.approved system:release.queued system:release.started"
	if !strings.HasPrefix(strings.Join(timeline, " "), want) {
		t.Fatalf("timeline:\n got %s\nwant prefix %s", strings.Join(timeline, " "), want)
	}

	// A version that never succeeded in staging cannot go to production.
	os.WriteFile(filepath.Join(s.workDir, "shop-2.0.tar"), []byte("shop build 2.0"), 0o644)
	s.fails("requires that version 2.0", "carol", "release", "create", "shop", "--env", "production", "--version", "2.0", "--artifact", "shop-2.0.tar")

	// An expired approval no longer counts.
	hot := s.create("carol", "shop", "--env", "hotfix", "--version", "2.0", "--artifact", "shop-2.0.tar")
	s.ok("alice", "approve", fmt.Sprint(hot.ID))
	testutil.WaitFor(t, "alice's approval to expire", func() bool {
		got := s.show(hot.ID)
		return len(got.Approvals) == 1 && got.Approvals[0].ExpiredAt != nil
	})
	s.ok("bob", "approve", fmt.Sprint(hot.ID))
	if got := s.show(hot.ID); got.State != "pending_approval" || !strings.Contains(got.Reason, "1 of 2") {
		t.Fatalf("expired approval still counts: %s %q", got.State, got.Reason)
	}
	s.ok("carol", "cancel", fmt.Sprint(hot.ID), "--reason", "approvals went stale")

	// A failing step fails the release, and its log is there to read.
	os.WriteFile(filepath.Join(s.workDir, "token.txt"), []byte("tok-9f8e7d6c\n"), 0o600)
	bad := s.create("carol", "shop", "--env", "staging", "--version", "2.0", "--artifact", "shop-2.0.tar", "--input", "fail=yes", "--secret-input", "token=@token.txt")
	wait = s.run("carol", "release", "wait", fmt.Sprint(bad.ID))
	if wait.code == 0 || !strings.Contains(wait.stdout, "failed") || !strings.Contains(wait.stdout, "exited with status 7") {
		t.Fatalf("failing release wait exit %d: %s", wait.code, wait.stdout)
	}
	s.fails("unauthorized", "nobody", "release", "logs", fmt.Sprint(bad.ID), "--job", "deploy")
	logs := s.ok("carol", "release", "logs", fmt.Sprint(bad.ID), "--job", "deploy", "-f")
	if !strings.Contains(logs, "boom: failing on purpose") || !strings.Contains(logs, "token is ***") || strings.Contains(logs, "tok-9f8e7d6c") {
		t.Fatalf("failing job log:\n%s", logs)
	}
	if out := s.ok("admin", "release", "show", fmt.Sprint(bad.ID), "-o", "json"); strings.Contains(out, "tok-9f8e7d6c") {
		t.Fatal("release show returns the secret input")
	}
	if got := s.show(bad.ID); got.State != "failed" {
		t.Fatalf("bad release is %s", got.State)
	}
	// Rerun is a new run of the same digest, and is audited.
	s.ok("carol", "rerun", fmt.Sprint(bad.ID))
	testutil.WaitFor(t, "the rerun to end", func() bool { return s.show(bad.ID).State == "failed" })
	if got := s.show(bad.ID); got.Run != 2 || got.Digest != bad.Digest {
		t.Fatalf("rerun: run %d digest %s", got.Run, got.Digest)
	}

	// Every read has -o json.
	var list []map[string]any
	s.jsonOut(&list, "carol", "release", "list")
	if len(list) != 4 {
		t.Fatalf("release list has %d releases, want 4", len(list))
	}
	var hist []map[string]any
	s.jsonOut(&hist, "carol", "service", "history", "shop")
	if len(hist) != 1 {
		t.Fatalf("history: %v", hist)
	}

	// The audit chain verifies, and an edit or a deletion made directly in
	// the database is caught and named.
	if out := s.ok("carol", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Fatalf("verify: %s", out)
	}
	export := s.ok("carol", "audit", "export", "--release", id)
	if n := strings.Count(export, "\n"); n < 8 {
		t.Fatalf("export has %d lines", n)
	}
	db, err := sql.Open("sqlite", filepath.Join(s.dir, "data", "shipgate.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var actor string
	if err := db.QueryRow(`SELECT actor FROM audit_events WHERE seq = 12`).Scan(&actor); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 12`); err != nil {
		t.Fatal(err)
	}
	s.fails("seq 12", "carol", "audit", "verify")
	if _, err := db.Exec(`UPDATE audit_events SET actor = ? WHERE seq = 12`, actor); err != nil {
		t.Fatal(err)
	}
	s.ok("carol", "audit", "verify") // restored
	if _, err := db.Exec(`DELETE FROM audit_events WHERE seq = 20`); err != nil {
		t.Fatal(err)
	}
	s.fails("seq 20", "carol", "audit", "verify")
}

func TestBadServiceFilesChangeNothing(t *testing.T) {
	s := startServer(t, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_e2e-automation-token-0001")
	if s.admin != "(the value of SHIPGATE_BOOTSTRAP_TOKEN)" {
		t.Fatalf("bootstrap line: %q", s.admin)
	}
	s.tokens["admin"] = "sgp_e2e-automation-token-0001"
	f := filepath.Join(s.workDir, "bad.yaml")
	os.WriteFile(f, []byte(strings.Replace(e2eService, "needs: [deploy]", "needs: [deploy, smoke]", 1)), 0o644)
	s.fails("bad.yaml:29: job \"smoke\" cannot need itself", "admin", "apply", "-f", f)
	var svcs []any
	s.jsonOut(&svcs, "admin", "service", "list")
	if len(svcs) != 0 {
		t.Fatalf("a bad file was applied: %v", svcs)
	}
	out := s.ok("admin", "audit", "list")
	if strings.Contains(out, "service.applied") {
		t.Fatalf("a bad file was audited as applied:\n%s", out)
	}
	s.fails("unauthorized", "nobody", "release", "list")
}

// A server restart loses nothing: a pending release keeps its approvals,
// the bootstrap token is not printed again, and the release runs after the
// second approval arrives at the new process.
func TestRestartKeepsState(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "carol", "--role", "deployer")
	s.ok("admin", "user", "create", "alice", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "bob", "--role", "approver", "--group", "release-managers")
	for _, u := range []string{"carol", "alice", "bob"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}
	f := filepath.Join(s.workDir, "shipgate.yaml")
	os.WriteFile(f, []byte(strings.Replace(e2eService, "      requires: [staging]\n", "", 1)), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
	r := s.create("carol", "shop", "--env", "production", "--version", "1.0", "--artifact", "a.tar")
	s.ok("alice", "approve", fmt.Sprint(r.ID))

	s.stop()
	s.start()
	if s.admin != "" {
		t.Fatalf("bootstrap token printed again after a restart: %q", s.admin)
	}
	if got := s.show(r.ID); got.State != "pending_approval" || !strings.Contains(got.Reason, "1 of 2") {
		t.Fatalf("after restart: %s %q", got.State, got.Reason)
	}
	s.ok("bob", "approve", fmt.Sprint(r.ID))
	if out := s.ok("carol", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("wait: %s", out)
	}
	if out := s.ok("carol", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Fatal(out)
	}
}

// SIGTERM stops taking jobs but lets a running one finish; a second signal
// ends the server at once.
func TestGracefulShutdown(t *testing.T) {
	for _, second := range []bool{false, true} {
		t.Run(fmt.Sprintf("second-signal=%v", second), func(t *testing.T) {
			s := startServer(t, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_graceful-admin-token")
			s.tokens["admin"] = "sgp_graceful-admin-token"
			f := filepath.Join(s.workDir, "svc.yaml")
			os.WriteFile(f, []byte(`apiVersion: shipgate/v1
kind: Service
metadata: {name: slow}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: work
        steps:
          - run: echo started > "$SHIPGATE_INPUT_MARK.started"; sleep 2; echo done > "$SHIPGATE_INPUT_MARK.done"
`), 0o644)
			s.ok("admin", "apply", "-f", f)
			os.WriteFile(filepath.Join(s.workDir, "a.tar"), []byte("a"), 0o644)
			mark := filepath.Join(s.workDir, "mark")
			s.create("admin", "slow", "--env", "staging", "--version", "1", "--artifact", "a.tar", "--input", "mark="+mark)
			testutil.WaitFor(t, "the step to start", func() bool { _, err := os.Stat(mark + ".started"); return err == nil })
			s.cmd.Process.Signal(syscall.SIGTERM)
			if second {
				testutil.WaitFor(t, "the server to announce its shutdown", func() bool {
					s.mu.Lock()
					defer s.mu.Unlock()
					return strings.Contains(s.stderr.String(), "shutting down")
				})
				s.cmd.Process.Signal(syscall.SIGTERM)
			}
			err := s.cmd.Wait()
			_, doneErr := os.Stat(mark + ".done")
			if second {
				if err == nil || doneErr == nil {
					t.Fatalf("second signal: exit %v, step finished: %v", err, doneErr == nil)
				}
				return
			}
			if err != nil || doneErr != nil {
				t.Fatalf("graceful: exit %v, step finished: %v", err, doneErr == nil)
			}
			s.start() // the release finished before the server stopped
			if got := s.show(1); got.State != "succeeded" {
				t.Fatalf("release %s %q", got.State, got.Reason)
			}
		})
	}
}

// SHIPGATE_BOOTSTRAP_TOKEN is read only on the first start of an empty
// store. Set on a store that already has users (a quickstart on a data
// directory an earlier start filled), the server says it ignores it
// instead of leaving a 401 to explain it later, and how to recover admin
// access when its value is none of their tokens; set to a token that
// works, it says that the token still works.
func TestBootstrapTokenIgnoredOnAFilledStore(t *testing.T) {
	s := startServer(t)
	s.stop()
	s.env = []string{"SHIPGATE_BOOTSTRAP_TOKEN=sgp_quickstart-admin-token"}
	s.start()
	s.stop()
	const warning = "SHIPGATE_BOOTSTRAP_TOKEN is ignored: the store already has users"
	s.mu.Lock()
	got := s.stderr.String()
	s.stderr.Reset()
	s.mu.Unlock()
	if !strings.Contains(got, warning) || !strings.Contains(got, "shipgate admin reset-token --data "+filepath.Join(s.dir, "data")) {
		t.Fatalf("no warning about an ignored bootstrap token with the way out:\n%s", got)
	}

	s.env = []string{"SHIPGATE_BOOTSTRAP_TOKEN=" + s.tokens["admin"]}
	s.start()
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := s.stderr.String(); !strings.Contains(got, warning) || !strings.Contains(got, `its value is a token of "admin", so it still works`) || strings.Contains(got, "reset-token") {
		t.Fatalf("want the variable said ignored, and its token working:\n%s", got)
	}
}

// refusals sums the counts of actor's access.denied events whose reason
// mentions reason: the first refusal of a window is written at once, the
// rest as one counted event when the window ends (restart the server to
// have every window written).
func (s *server) refusals(actor, reason string) int {
	s.t.Helper()
	var events []struct {
		Actor, Action string
		Details       map[string]any
	}
	s.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	n := 0
	for _, e := range events {
		if e.Action == "access.denied" && e.Actor == actor && strings.Contains(fmt.Sprint(e.Details["reason"]), reason) {
			c, _ := e.Details["count"].(float64)
			n += int(c)
		}
	}
	return n
}

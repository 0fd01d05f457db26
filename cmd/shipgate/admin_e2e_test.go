package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runBinary runs the built binary with args and extra environment, with
// no server or token from the test's own environment.
func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append(os.Environ(), "SHIPGATE_SERVER=", "SHIPGATE_TOKEN=", "SHIPGATE_BOOTSTRAP_TOKEN="), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// A first start on a port in use fails with the bind error before it
// creates anything: it printed a bootstrap token no server would ever
// accept, on a store whose admin then had a token nobody knew.
func TestServeBindsBeforeBootstrap(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	data := filepath.Join(t.TempDir(), "data")
	r := runBinary(t, nil, "serve", "--listen", busy.Addr().String(), "--data", data)
	if r.code == 0 || !strings.Contains(r.stderr, "address already in use") {
		t.Fatalf("exit %d, stderr %q; want the bind error", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "bootstrap admin token") {
		t.Fatalf("printed a token that can never be used:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(data, "shipgate.db")); !os.IsNotExist(err) {
		t.Fatalf("the store was created: %v", err)
	}
}

// admin reset-token gives the admin a new token on a stopped server's
// store, audited under local:reset-token; it refuses while the server
// runs, and bad input changes nothing.
func TestAdminResetToken(t *testing.T) {
	s := startServer(t)
	data := filepath.Join(s.dir, "data")
	oldAdmin := s.tokens["admin"]
	s.ok("admin", "user", "create", "carol", "--role", "deployer")

	r := runBinary(t, nil, "admin", "reset-token", "--data", data)
	if r.code == 0 || !strings.Contains(r.stderr, "a shipgate server is already running on "+data) || r.stdout != "" {
		t.Fatalf("reset-token beside a running server: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var before []map[string]any
	s.jsonOut(&before, "admin", "audit", "list", "--limit", "0")
	s.stop()

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "carol"}, `user "carol" is not an enabled admin`},
		{[]string{"--user", "nobody"}, `user "nobody" does not exist`},
		{[]string{"--expires-in", "soon"}, `--expires-in "soon"`},
	} {
		r := runBinary(t, nil, append([]string{"admin", "reset-token", "--data", data}, bad.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, bad.want) || r.stdout != "" {
			t.Fatalf("reset-token %v: exit %d, stdout %q, stderr %q; want %q", bad.args, r.code, r.stdout, r.stderr, bad.want)
		}
	}
	if r := runBinary(t, nil, "admin", "reset-token", "--data", filepath.Join(s.dir, "nothing")); r.code == 0 || !strings.Contains(r.stderr, "no shipgate store in") {
		t.Fatalf("reset-token on an empty directory: exit %d, %s", r.code, r.stderr)
	}

	r = runBinary(t, nil, "admin", "reset-token", "--data", data)
	newAdmin := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(newAdmin, "sgp_") || !strings.Contains(r.stderr, "still work") {
		t.Fatalf("reset-token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.start()
	s.tokens["new"] = newAdmin
	if out := s.ok("new", "whoami"); !strings.HasPrefix(out, "admin ") {
		t.Fatalf("whoami with the new token: %s", out)
	}
	s.ok("admin", "whoami") // the old one still works: nothing revoked unless asked
	var events []struct {
		Seq                    int64
		Actor, Action, Subject string
		At                     string
	}
	s.jsonOut(&events, "new", "audit", "list", "--limit", "0")
	var actions []string
	for _, e := range events[len(before):] {
		if e.Actor == "local:reset-token" {
			actions = append(actions, e.Action+" "+e.Subject)
			if e.At == "" {
				t.Errorf("event %d has no time", e.Seq)
			}
		}
	}
	if strings.Join(actions, ",") != "token.created user/admin,token.reset user/admin" {
		t.Fatalf("audited by local:reset-token: %q; want only the token created and reset (the refused runs changed nothing)", actions)
	}
	s.ok("new", "audit", "verify")

	// --revoke-others: a token that may have leaked stops working.
	s.stop()
	r = runBinary(t, nil, "admin", "reset-token", "--data", data, "--revoke-others", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"revoked": [`) {
		t.Fatalf("reset-token --revoke-others: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.start()
	s.fails("unauthorized", "admin", "whoami")
	s.fails("unauthorized", "new", "whoami")
	_ = oldAdmin
}

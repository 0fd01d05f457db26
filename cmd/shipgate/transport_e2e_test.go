package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
)

// agentGivesUp runs `shipgate agent` that must stop by itself, refused,
// and returns how it ended.
func (s *server) agentGivesUp(t *testing.T, joinToken string, extra ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"agent", "--server", s.url, "--token", joinToken, "--name", "refused", "--labels", "role=web", "--work-dir", t.TempDir()}
	cmd := exec.CommandContext(ctx, binary, append(args, extra...)...)
	cmd.Dir = s.workDir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the agent kept trying for a minute:\n%s", errb.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("agent %v: exit %v\n%s", extra, err, errb.String())
	}
	return result{ee.ExitCode(), out.String(), errb.String()}
}

const tlsService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: deploy
        runs_on: {role: web}
        steps:
          - run: echo "deploying $(cat "$SHIPGATE_ARTIFACT_PATH")"
`

// TestTLSEndToEnd runs the server, the CLI and an agent over TLS with a CA
// made for the test: the CLI trusts the server only with that CA, says
// what is wrong when it speaks HTTP to HTTPS and the reverse, and only an
// agent with a client certificate from the client CA may join and run
// jobs (artifact download included).
func TestTLSEndToEnd(t *testing.T) {
	ca := testutil.NewCA(t, "shipgate-test")
	cert, key := ca.Server("server", "127.0.0.1")
	agentCert, agentKey := ca.Client("web-1")
	rogueCert, rogueKey := testutil.NewCA(t, "rogue").Client("intruder")
	s := startServerWith(t, []string{"--no-local-runner", "--read-header-timeout", "1s",
		"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca.CertFile})
	if !strings.HasPrefix(s.url, "https://127.0.0.1:") {
		t.Fatalf("server URL %s", s.url)
	}

	// The CLI trusts the server through --ca-cert or $SHIPGATE_CA_CERT.
	s.fails("not signed by an authority this client trusts; give the server's CA with --ca-cert FILE or $SHIPGATE_CA_CERT", "admin", "whoami")
	if out := s.ok("admin", "--ca-cert", ca.CertFile, "whoami"); !strings.Contains(out, "admin") {
		t.Fatalf("whoami: %s", out)
	}
	s.clientEnv = []string{"SHIPGATE_CA_CERT=" + ca.CertFile}
	s.ok("admin", "whoami")
	plain := "http://" + strings.TrimPrefix(s.url, "https://")
	s.clientEnv = append(s.clientEnv, "SHIPGATE_SERVER="+plain)
	s.fails("the shipgate server at "+plain+" speaks HTTPS; use "+s.url, "admin", "whoami")
	s.clientEnv = s.clientEnv[:1]

	// Agents need a client certificate signed by the client CA.
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "web-hosts"))
	if r := s.agentGivesUp(t, join, "--ca-cert", ca.CertFile); !strings.Contains(r.stderr, "accepts agents only with a client certificate") {
		t.Fatalf("agent without a client certificate: %s", r.stderr)
	}
	if r := s.agentGivesUp(t, join, "--ca-cert", ca.CertFile, "--client-cert", rogueCert, "--client-key", rogueKey); !strings.Contains(r.stderr, "refused the TLS handshake") {
		t.Fatalf("agent with a certificate of another CA: %s", r.stderr)
	}
	if r := s.agentGivesUp(t, join, "--client-cert", agentCert, "--client-key", agentKey); !strings.Contains(r.stderr, "--ca-cert") {
		t.Fatalf("agent that does not trust the server: %s", r.stderr)
	}
	s.startAgent("web-1", "role=web", join, "--ca-cert", ca.CertFile, "--client-cert", agentCert, "--client-key", agentKey)

	f := filepath.Join(s.workDir, "web.yaml")
	os.WriteFile(f, []byte(tlsService), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "web.tar"), []byte("web build 7 over TLS"), 0o644)
	r := s.create("admin", "web", "--env", "staging", "--version", "7", "--artifact", "web.tar")
	if out := s.ok("admin", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("release over TLS: %s", out)
	}
	if logs := s.ok("admin", "release", "logs", fmt.Sprint(r.ID), "--job", "deploy"); !strings.Contains(logs, "deploying web build 7 over TLS") {
		t.Fatalf("logs: %s", logs)
	}

	// The certificate-less agent's attempt is an audited refusal.
	var events []struct {
		Actor, Action string
		Details       map[string]any
	}
	s.jsonOut(&events, "admin", "audit", "list", "--limit", "0")
	refused := false
	for _, e := range events {
		refused = refused || e.Action == "access.denied" && strings.Contains(fmt.Sprint(e.Details["reason"]), "client certificate")
	}
	if !refused {
		t.Fatal("the agent without a client certificate is not in the audit log")
	}

	// A connection that never starts its handshake is closed.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitClosed(t, conn)

	// And the reverse: HTTPS to a plain server.
	p := startServerWith(t, []string{"--no-local-runner"})
	secure := "https://" + strings.TrimPrefix(p.url, "http://")
	p.clientEnv = []string{"SHIPGATE_SERVER=" + secure}
	p.fails("the shipgate server at "+secure+" speaks plain HTTP, not HTTPS; use "+p.url, "admin", "whoami")

	s.stop() // all of its stderr is in
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(s.stderr.String(), "without TLS") {
		t.Fatal("a TLS server warns about plain HTTP")
	}
}

// waitClosed reads from conn until the server closes it; a minute of an
// open connection fails the test.
func waitClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.Copy(io.Discard, conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server kept the connection open for a minute")
	}
}

// TestServeWarnsWithoutTLSOffLoopback: plain HTTP on an address other
// hosts reach is worth a warning; on loopback (behind a local proxy) it
// is not.
func TestServeWarnsWithoutTLSOffLoopback(t *testing.T) {
	warned := func(s *server) bool {
		s.stop() // all of its stderr is in
		s.mu.Lock()
		defer s.mu.Unlock()
		return strings.Contains(s.stderr.String(), "listening on a non-loopback address without TLS")
	}
	if s := startServerWith(t, []string{"--no-local-runner"}); warned(s) {
		t.Fatal("a loopback server warns")
	}
	if s := startServerWith(t, []string{"--no-local-runner", "--listen", "0.0.0.0:" + strings.Split(freeAddr(t), ":")[1]}); !warned(s) {
		t.Fatal("no warning for plain HTTP on every interface")
	}
}

// TestSlowClientsAreDisconnected: connections that send a request a byte
// at a time — its header or its body, with a token or without — and idle
// keep-alive connections are closed by the server.
func TestSlowClientsAreDisconnected(t *testing.T) {
	s := startServerWith(t, []string{"--no-local-runner", "--read-header-timeout", "1s", "--read-timeout", "1s", "--idle-timeout", "1s"})
	addr := strings.TrimPrefix(s.direct, "http://") // the server's own timeouts, not the test proxy's
	for _, tc := range []struct{ name, head, drip string }{
		{"header", "GET /api/v1/whoami HTTP/1.1\r\nHost: shipgate\r\n", "X-Slow: 1\r\n"},
		{"body without a token", "POST /api/v1/releases HTTP/1.1\r\nHost: shipgate\r\nContent-Length: 100000\r\n\r\n{", " "},
		{"body with a token", "POST /api/v1/releases HTTP/1.1\r\nHost: shipgate\r\nAuthorization: Bearer " + s.admin + "\r\nContent-Length: 100000\r\n\r\n{", " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, tc.head)
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				tick := time.NewTicker(200 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := io.WriteString(conn, tc.drip); err != nil {
							return
						}
					}
				}
			}()
			waitClosed(t, conn)
		})
	}
	t.Run("idle", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: shipgate\r\n\r\n")
		waitClosed(t, conn)
	})
}

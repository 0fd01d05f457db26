package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withPassword puts user bob with password hunter2 into a server URL.
func withPassword(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	return scheme + "://bob:hunter2@" + rest
}

// A password in the server URL never appears in the CLI's output, on any
// error path: errors and hints show the URL as url.URL.Redacted does.
func TestServerURLPasswordNeverPrinted(t *testing.T) {
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>hello</html>"))
	}))
	defer html.Close()
	otherJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"no such route"}`))
	}))
	defer otherJSON.Close()
	badJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[1,2`))
	}))
	defer badJSON.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	mtls := httptest.NewUnstartedServer(http.NotFoundHandler())
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	mtls.StartTLS()
	defer mtls.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mtls.Certificate().Raw}), 0o644)
	refused := "http://" + freeAddr(t)

	for _, tc := range []struct {
		name, server string
		args         []string
		want         string // part of stderr, so the case hits the path it names
	}{
		{"refused", withPassword(refused), []string{"release", "list"}, "connection refused"},
		{"no scheme", strings.TrimPrefix(withPassword(refused), "http://"), []string{"whoami"}, "has no scheme"},
		{"other scheme", "ftp://bob:hunter2@127.0.0.1:1", []string{"whoami"}, "has the scheme"},
		{"no host", "http://bob:hunter2@", []string{"whoami"}, "names no host"},
		{"not a URL", "http://bob:hunter2@[::1", []string{"whoami"}, "is not a URL"},
		{"html", withPassword(html.URL), []string{"release", "list"}, "did not answer like shipgate"},
		{"other json error", withPassword(otherJSON.URL), []string{"whoami"}, "did not answer like shipgate"},
		{"broken json", withPassword(badJSON.URL), []string{"whoami"}, "did not answer like shipgate"},
		{"unknown CA", withPassword(tlsSrv.URL), []string{"whoami"}, "not signed by an authority"},
		{"http to https", withPassword("http://" + strings.TrimPrefix(tlsSrv.URL, "https://")), []string{"whoami"}, "speaks HTTPS"},
		{"https to http", withPassword("https://" + strings.TrimPrefix(html.URL, "http://")), []string{"whoami"}, "speaks plain HTTP"},
		{"tls alert", withPassword(mtls.URL), []string{"--ca-cert", caFile, "whoami"}, "refused the TLS handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, tc.args...)
			cmd.Env = append(os.Environ(), "SHIPGATE_SERVER="+tc.server, "SHIPGATE_TOKEN=sgp_x")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err == nil {
				t.Fatal("exit 0")
			}
			all := out.String() + errb.String()
			if strings.Contains(all, "hunter2") || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("output shows the password or misses %q:\n%s", tc.want, all)
			}
		})
	}

	// An agent says which server it registered with, without the password.
	s := startServer(t)
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "web-hosts"))
	agent := exec.Command(binary, "agent", "--server", withPassword(s.url), "--token", join, "--name", "a1", "--labels", "role=web", "--work-dir", t.TempDir())
	var errb bytes.Buffer
	agent.Stderr = &lockedWriter{mu: &s.mu, w: &errb}
	stdout, _ := agent.StdoutPipe()
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { agent.Process.Signal(syscall.SIGTERM); agent.Wait() }()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.Contains(sc.Text(), "registered with") || strings.Contains(sc.Text(), "hunter2") {
		t.Fatalf("agent: %q", sc.Text())
	}
}

package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/artifactstore"
)

// The files the server refuses as artifacts include what it reads as
// configuration or secrets, as absolute paths, and the regular file its
// output goes to (`shipgate serve > nohup.out` in the artifact root holds
// the first admin token), once.
func TestServerFiles(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	out, err := os.Create(filepath.Join(dir, "nohup.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	m := &Main{Getenv: func(k string) string {
		if k == "CREDENTIALS_DIRECTORY" {
			return "/run/credentials/shipgate.service"
		}
		return ""
	}}
	cfg := ServeConfig{DataDir: "data", ConfigFile: "server.yaml", TLSCert: "/etc/shipgate/tls.crt", TLSKey: "/etc/shipgate/tls.key", TLSClientCA: "/etc/shipgate/ca.pem"}
	got := m.serverFiles(cfg, "keys/audit.key", "/srv/db/shipgate.db", out, out, &bytes.Buffer{})
	want := []string{filepath.Join(dir, "server.yaml"), "/etc/shipgate/tls.crt", "/etc/shipgate/tls.key", "/etc/shipgate/ca.pem",
		filepath.Join(dir, "keys", "audit.key"), filepath.Join(dir, "data", "secret.key"), "/srv/db/shipgate.db", "/srv/db/shipgate.db-wal", "/run/credentials/shipgate.service"}
	if runtime.GOOS == "linux" {
		want = append(want, out.Name())
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("server files %v lack %s", got, w)
		}
	}
	if n := len(slices.DeleteFunc(slices.Clone(got), func(s string) bool { return s != out.Name() })); n > 1 {
		t.Errorf("%s listed %d times", out.Name(), n)
	}
}

// The server's own files under the artifact root (a config file and a log
// beside the server, in the working directory) make one INFO line, not a
// WARN per file at every start; a root holding a kernel directory is still
// a WARN.
func TestWideRootsAreToldOnce(t *testing.T) {
	root := t.TempDir()
	cfgFile, logFile := filepath.Join(root, "server.yaml"), filepath.Join(root, "serve.log")
	for _, f := range []string{cfgFile, logFile} {
		os.WriteFile(f, []byte("x"), 0o600)
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	warnWideRoots(&artifactstore.Sources{Roots: []string{root}}, []string{cfgFile, logFile}, nil, logger)
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=INFO") || !strings.Contains(out, "server.yaml, "+logFile) {
		t.Fatalf("server files under the root:\n%s", out)
	}
	if runtime.GOOS != "linux" {
		return
	}
	buf.Reset()
	warnWideRoots(&artifactstore.Sources{Roots: []string{"/"}}, nil, nil, logger)
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "path=/proc") {
		t.Fatalf("a root of /:\n%s", buf.String())
	}
}

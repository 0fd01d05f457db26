package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
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

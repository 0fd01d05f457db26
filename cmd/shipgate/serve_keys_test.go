package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
)

// keyIDOf is the id of the secret key in a data directory.
func keyIDOf(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	box, err := shipgate.NewSecretBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return box.KeyID()
}

// A server started on a database with a secret key other than the one its
// secret inputs are sealed with is refused at start, saying what to do
// (newcomer review: it used to start, and jobs then failed at random on
// whichever server took them). --replace-secret-key ID replaces exactly
// that key, on record, and changes nothing when left in place (second
// hostile review: a plain flag swapped keys back and forth).
func TestSecretKeyMustMatch(t *testing.T) {
	s := startServer(t) // its key: a fresh <data>/secret.key
	s.stop()
	data := filepath.Join(s.dir, "data")
	old := keyIDOf(t, data)
	other := map[string]string{"SHIPGATE_SECRET_KEY": strings.Repeat("3c", 32)}
	code, _, errOut := runMain(t, other, "serve", "--listen", "127.0.0.1:0", "--data", data)
	for _, want := range []string{"this server's secret key (id hmac-sha256:", "is not the one this database's secret inputs are sealed with (id " + old,
		"This server's key comes from SHIPGATE_SECRET_KEY", "start with the key this database was created with", "--replace-secret-key " + old} {
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("a server with another secret key: exit %d, stderr %q; want %q", code, errOut, want)
		}
	}
	code, _, errOut = runMain(t, other, "serve", "--listen", "127.0.0.1:0", "--data", data, "--replace-secret-key", "hmac-sha256:0000000000000000")
	if code == 0 || !strings.Contains(errOut, "--replace-secret-key "+old) {
		t.Fatalf("replacing a key the database does not have: exit %d, stderr %q", code, errOut)
	}

	s.env = append(s.env, "SHIPGATE_SECRET_KEY="+strings.Repeat("3c", 32))
	s.args = []string{"--replace-secret-key", old}
	s.start()
	if out := s.ok("admin", "audit", "list"); strings.Count(out, "key.replaced") != 1 || !strings.Contains(out, "key/secret") {
		t.Fatalf("the replaced key is not on record once:\n%s", out)
	}
	s.stop()
	s.start() // the flag left in place: the key is the database's already
	if out := s.ok("admin", "audit", "list"); strings.Count(out, "key.replaced") != 1 {
		t.Fatalf("a second start with the flag replaced the key again:\n%s", out)
	}
}

// On PostgreSQL a start that fails before the server is ready records no
// key for the data directory it removes: the next start, with another key
// and a working configuration, is not locked out (second hostile review).
// While a server runs, its secret key cannot be replaced, and a server
// with another audit key is refused (second newcomer review).
func TestSharedKeysPostgres(t *testing.T) {
	pg := testutil.RequirePostgres(t)
	dsn := pg.NewDatabase(t)
	notDir := filepath.Join(t.TempDir(), "afile")
	os.WriteFile(notDir, []byte("x"), 0o644)
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"SHIPGATE_SECRET_KEY": strings.Repeat("4d", 32)}
	code, _, errOut := runMain(t, env, "serve", "--listen", "127.0.0.1:0", "--data", data, "--database", dsn, "--artifact-store", filepath.Join(notDir, "sub"))
	if code == 0 {
		t.Fatalf("a start with an artifact store under a file succeeded: %s", errOut)
	}
	s := startServerWith(t, []string{"--database", dsn}, "SHIPGATE_SECRET_KEY="+strings.Repeat("5e", 32))
	s.ok("admin", "audit", "verify")
	// While it runs, its key is not lost: another server may not replace
	// it (second newcomer review: the key then flipped between servers).
	testutil.WaitFor(t, "the running server to lead", func() bool { leads, _ := healthLeader(s.direct); return leads })
	key, _ := hex.DecodeString(strings.Repeat("5e", 32))
	box, _ := shipgate.NewSecretBox(key)
	other := map[string]string{"SHIPGATE_SECRET_KEY": strings.Repeat("6f", 32)}
	code, _, errOut = runMain(t, other, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "c"), "--database", dsn, "--replace-secret-key", box.KeyID())
	if code == 0 || !strings.Contains(errOut, "is running on this database, with the key it seals secret inputs with") {
		t.Fatalf("replacing the key of a running server: exit %d, stderr %q", code, errOut)
	}
	s.ok("admin", "audit", "checkpoint")
	same := map[string]string{"SHIPGATE_SECRET_KEY": strings.Repeat("5e", 32), "SHIPGATE_AUDIT_KEY": strings.Repeat("7a", 32)}
	code, _, errOut = runMain(t, same, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "d"), "--database", dsn)
	if code == 0 || !strings.Contains(errOut, "is not the one the running server") || !strings.Contains(errOut, "servers sharing a database must share the audit key") {
		t.Fatalf("a second server with another audit key: exit %d, stderr %q", code, errOut)
	}
	// Its built-in runner is named after its data directory too.
	if b, err := os.ReadFile(filepath.Join(s.dir, "data", "runner-name")); err != nil || !strings.Contains(string(b), "/") {
		t.Fatalf("the runner of a server on PostgreSQL: %q %v", b, err)
	}
}

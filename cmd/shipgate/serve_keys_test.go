package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A server started on a database with a secret key other than the one its
// servers seal secret inputs with is refused at start, saying what to do
// (newcomer review: it used to start, and jobs then failed at random on
// whichever server took them). --new-secret-key makes its key the
// database's, on record.
func TestSecretKeyMustMatch(t *testing.T) {
	s := startServer(t) // its key: a fresh <data>/secret.key
	s.stop()
	data := filepath.Join(s.dir, "data")
	other := map[string]string{"SHIPGATE_SECRET_KEY": strings.Repeat("3c", 32)}
	code, _, errOut := runMain(t, other, "serve", "--listen", "127.0.0.1:0", "--data", data)
	for _, want := range []string{"this server's secret key (id hmac-sha256:", "is not the one this database's servers use", "start this one with the same SHIPGATE_SECRET_KEY", "--new-secret-key"} {
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("a server with another secret key: exit %d, stderr %q; want %q", code, errOut, want)
		}
	}

	s.env = append(s.env, "SHIPGATE_SECRET_KEY="+strings.Repeat("3c", 32))
	s.args = append(s.args, "--new-secret-key")
	s.start()
	if out := s.ok("admin", "audit", "list"); !strings.Contains(out, "key.replaced") || !strings.Contains(out, "key/secret") {
		t.Fatalf("the replaced key is not on record:\n%s", out)
	}
	s.stop()
	s.args = nil // the new key is the database's now
	s.start()
}

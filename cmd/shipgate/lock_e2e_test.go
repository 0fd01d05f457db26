package main

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
)

// serveRefused starts serve with args and expects it to exit non-zero
// with want in its stderr; a server that starts listening instead is
// stopped and reported (before the database lock, a second server on a
// linked database simply ran).
func serveRefused(t *testing.T, want string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "SHIPGATE_SERVER=", "SHIPGATE_TOKEN=", "SHIPGATE_BOOTSTRAP_TOKEN=")
	var errb strings.Builder
	cmd.Stderr = &errb
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening on ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("serve %v started beside the running server; want %q", args, want)
		}
	}
	err := cmd.Wait()
	if err == nil || !strings.Contains(errb.String(), want) {
		t.Fatalf("serve %v: %v, stderr %q; want a refusal mentioning %q", args, err, errb.String(), want)
	}
}

// A symbolic or hard link to a running server's SQLite database is the
// same database: admin reset-token printed a working admin token beside
// the running server through one, and a second serve started on it
// (two servers, two secret keys; through a hard link a second WAL).
func TestLinkedDatabaseIsLocked(t *testing.T) {
	s := startServer(t)
	db := filepath.Join(s.dir, "data", "shipgate.db")
	sym := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(db, sym); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(t.TempDir(), "hl.db")
	if err := os.Link(db, hard); err != nil {
		t.Fatal(err)
	}
	cwd := t.TempDir()
	nowhere := filepath.Join(t.TempDir(), "nowhere")
	for _, c := range []struct{ path, want string }{
		// Through a symlink the serve.lock beside the real file is found,
		// and the message names the real directory and the holder.
		{sym, "a shipgate server is already running on " + filepath.Dir(db) + " (shipgate serve listening on"},
		// A hard link is caught by the lock on the database file itself.
		{hard, "a shipgate server is already running on this database (" + hard},
	} {
		r := runIn(t, cwd, "admin", "reset-token", "--database", c.path, "--data", nowhere)
		if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("reset-token --database %s: exit %d, stdout %q, stderr %q; want %q", c.path, r.code, r.stdout, r.stderr, c.want)
		}
		serveRefused(t, c.want, "--data", filepath.Join(t.TempDir(), "d2"), "--database", c.path)
	}
	if _, err := os.Stat(hard + "-wal"); !os.IsNotExist(err) {
		t.Fatalf("a second WAL was made beside the hard link: %v", err)
	}
	// The first server is unharmed, and stopped, the links work.
	s.ok("admin", "whoami")
	s.stop()
	r := runIn(t, cwd, "admin", "reset-token", "--database", sym, "--data", nowhere)
	if r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), "sgp_") {
		t.Fatalf("reset-token through the symlink of a stopped server's database: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A start that fails leaves no half-made --data behind: a missing
// --audit-key-file directory left shipgate.db, secret.key and serve.lock
// in a new --data, and an unreachable PostgreSQL left serve.lock.
func TestFailedFirstStartLeavesNoData(t *testing.T) {
	dir := t.TempDir()
	absent := func(paths ...string) {
		t.Helper()
		for _, p := range paths {
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				ents, _ := os.ReadDir(p)
				t.Fatalf("a failed start left %s behind (%v, holding %v)", p, err, ents)
			}
		}
	}
	n4 := filepath.Join(dir, "n4")
	r := runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", n4, "--audit-key-file", filepath.Join(dir, "nonexistent", "dir", "k"))
	if r.code == 0 || !strings.Contains(r.stderr, filepath.Join(dir, "nonexistent", "dir")) {
		t.Fatalf("exit %d, stderr %q; want the audit key's missing directory named", r.code, r.stderr)
	}
	absent(n4)
	n6 := filepath.Join(dir, "n6")
	r = runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", n6, "--database", "postgres://postgres@127.0.0.1:1/db?sslmode=disable")
	if r.code == 0 || !strings.Contains(r.stderr, "postgres") {
		t.Fatalf("exit %d, stderr %q; want the connection error", r.code, r.stderr)
	}
	absent(n6)
	// A failure no check foresees (an artifact store under a regular
	// file): what this run created is removed, the --data and a SQLite
	// --database elsewhere alike.
	afile := filepath.Join(dir, "afile")
	os.WriteFile(afile, nil, 0o600)
	badStore := []string{"--artifact-store", filepath.Join(afile, "store")}
	n7, elsewhere := filepath.Join(dir, "n7"), filepath.Join(dir, "x", "y")
	r = runBinary(t, nil, append([]string{"serve", "--listen", "127.0.0.1:0", "--data", n7, "--database", filepath.Join(elsewhere, "store.db")}, badStore...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "afile") {
		t.Fatalf("exit %d, stderr %q; want the artifact store error", r.code, r.stderr)
	}
	absent(n7, filepath.Join(dir, "x"))
	// An existing --data is never removed.
	kept := filepath.Join(dir, "kept")
	os.Mkdir(kept, 0o700)
	runBinary(t, nil, append([]string{"serve", "--listen", "127.0.0.1:0", "--data", kept}, badStore...)...)
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("a failed start removed an existing --data: %v", err)
	}

	// PostgreSQL: the database is never touched, the new --data goes.
	dsn := testutil.RequirePostgres(t).NewDatabase(t)
	n8 := filepath.Join(dir, "n8")
	r = runBinary(t, nil, append([]string{"serve", "--listen", "127.0.0.1:0", "--data", n8, "--database", dsn}, badStore...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "afile") {
		t.Fatalf("exit %d, stderr %q; want the artifact store error", r.code, r.stderr)
	}
	absent(n8)
	pg, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var users int
	if err := pg.QueryRow("SELECT count(*) FROM users").Scan(&users); err != nil || users != 0 {
		t.Fatalf("the PostgreSQL store after a failed start: %d users, %v", users, err)
	}
}

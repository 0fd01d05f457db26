package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runIn runs the built binary in dir, with no server or token from the
// test's own environment.
func runIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SHIPGATE_SERVER=", "SHIPGATE_TOKEN=", "SHIPGATE_BOOTSTRAP_TOKEN=")
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

// admin reset-token takes the lock where the database it opens is, never
// makes a store, and refuses what is not one: with --database naming a
// running server's SQLite file and a --data elsewhere it issued a token
// into the live store without any lock; with --database file:… it made a
// new empty store under a directory named "file:".
func TestAdminResetTokenDatabaseOnlyExisting(t *testing.T) {
	s := startServer(t)
	db := filepath.Join(s.dir, "data", "shipgate.db")
	cwd := t.TempDir()
	nowhere := filepath.Join(t.TempDir(), "nowhere")
	refused := func(want string, args ...string) {
		t.Helper()
		r := runIn(t, cwd, append([]string{"admin", "reset-token"}, args...)...)
		if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, want) {
			t.Fatalf("reset-token %v: exit %d, stdout %q, stderr %q; want %q", args, r.code, r.stdout, r.stderr, want)
		}
		if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
			t.Fatalf("reset-token %v created %s in its working directory", args, entries[0].Name())
		}
	}
	// The running server's database, --data elsewhere: the lock is found
	// beside the database.
	refused("a shipgate server is already running on "+filepath.Dir(db), "--database", db, "--data", nowhere)
	// A server with --database outside its --data locks there too.
	other := t.TempDir()
	s2 := startServerWith(t, []string{"--database", filepath.Join(other, "store.db")})
	refused("a shipgate server is already running on "+other, "--database", filepath.Join(other, "store.db"), "--data", nowhere)
	s2.stop()

	// Nothing that is not a store becomes one.
	refused("file: URI", "--database", "file:"+db)
	refused("file: URI", "--database", "file://"+db)
	missing := filepath.Join(t.TempDir(), "missing", "shipgate.db")
	refused("does not exist", "--database", missing, "--data", nowhere)
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Fatalf("reset-token created the directory of a missing database: %v", err)
	}
	notes := filepath.Join(t.TempDir(), "notes.db")
	nd, err := sql.Open("sqlite", notes)
	if err != nil {
		t.Fatal(err)
	}
	nd.Exec("CREATE TABLE notes (x TEXT)")
	nd.Close()
	refused("no users table", "--database", notes)
	nd, _ = sql.Open("sqlite", notes)
	var tables int
	nd.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'table'").Scan(&tables)
	nd.Close()
	if tables != 1 {
		t.Fatalf("reset-token changed another program's database: %d tables", tables)
	}

	// Stopped, the same command works, and the server accepts the token.
	s.stop()
	r := runIn(t, cwd, "admin", "reset-token", "--database", db, "--data", nowhere)
	if r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), "sgp_") {
		t.Fatalf("reset-token on the stopped server's database: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.start()
	s.tokens["new"] = strings.TrimSpace(r.stdout)
	if out := s.ok("new", "whoami"); !strings.HasPrefix(out, "admin ") {
		t.Fatalf("whoami with the new token: %s", out)
	}
}

package testutil

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Postgres is a throwaway PostgreSQL cluster in a temp directory.
type Postgres struct {
	Dir  string
	Port int
	// asUser is the system user the server runs as ("" for the current one).
	asUser string
	pgCtl  string
	admin  *sql.DB
	n      atomic.Int64
}

var (
	pgOnce sync.Once
	pg     *Postgres
	pgErr  error
)

// InCI reports whether tests run in CI, where a missing server is a failure
// rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequirePostgres returns the package's shared cluster, starting it on
// first use. Without PostgreSQL binaries the test is skipped locally and
// fails in CI.
func RequirePostgres(t testing.TB) *Postgres {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = startPostgres() })
	if pgErr != nil {
		Unavailable(t, "PostgreSQL", pgErr)
	}
	return pg
}

// Unavailable ends a test that needs a real part this machine lacks
// (PostgreSQL, Prometheus, Chromium): it fails in CI, where .ci/run
// installs every part and a missing one must not pass silently, and is
// skipped elsewhere with why.
func Unavailable(t testing.TB, what string, why error) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI: %v", what, why)
	}
	t.Skipf("%s not available: %v", what, why)
}

// StopPostgres stops the shared cluster if one was started. Call it from
// TestMain after m.Run.
func StopPostgres() {
	if pg != nil {
		pg.stop()
	}
}

func findPGBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin", name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startPostgres() (*Postgres, error) {
	initdb, err := findPGBin("initdb")
	if err != nil {
		return nil, err
	}
	pgCtl, err := findPGBin("pg_ctl")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "shipgate-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: dir, pgCtl: pgCtl}
	// initdb refuses to run as root: run the cluster as the postgres system
	// user, which must own the directory.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres system user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		p.asUser = "postgres"
	}
	if out, err := p.run(initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; attempt < 5; attempt++ {
		if p.Port, err = freePort(); err != nil {
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", p.Port, dir)
		var out []byte
		out, err = p.run(pgCtl, "-D", filepath.Join(dir, "data"), "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			break
		}
		err = fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	if err != nil {
		return nil, err
	}
	p.admin, err = sql.Open("pgx", p.dsn("postgres"))
	if err != nil {
		p.stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.admin.PingContext(ctx); err != nil {
		p.stop()
		return nil, fmt.Errorf("connect to test cluster: %v", err)
	}
	return p, nil
}

func (p *Postgres) run(bin string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if p.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.asUser, "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = p.Dir
	return cmd.CombinedOutput()
}

func (p *Postgres) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// NewDatabase creates an empty database for one test and returns its URL.
// It is dropped when the test ends.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), p.n.Add(1))
	if _, err := p.admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		p.admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return p.dsn(name)
}

func (p *Postgres) stop() {
	if p.admin != nil {
		p.admin.Close()
	}
	p.run(p.pgCtl, "-D", filepath.Join(p.Dir, "data"), "-m", "immediate", "-w", "stop")
	os.RemoveAll(p.Dir)
}

// Engines lists the engines store tests run on.
var Engines = []string{"sqlite", "postgres"}

// DSN returns a fresh, empty database of the given engine for one test.
func DSN(t testing.TB, engine string) string {
	t.Helper()
	switch engine {
	case "sqlite":
		return filepath.Join(t.TempDir(), "shipgate.db")
	case "postgres":
		return RequirePostgres(t).NewDatabase(t)
	}
	t.Fatalf("unknown engine %q", engine)
	return ""
}

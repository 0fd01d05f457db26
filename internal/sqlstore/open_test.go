package sqlstore_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// OpenExisting opens only a store that is there: a missing SQLite file or
// a database without shipgate's tables is refused and left as it was (no
// file, no table created), for offline tools such as admin reset-token
// that must never make a new, empty store.
func testOpenExisting(t *testing.T, engine string) {
	dsn := testutil.DSN(t, engine)
	if _, err := sqlstore.OpenExisting(ctx, dsn); err == nil || !strings.Contains(err.Error(), "no shipgate store") {
		t.Fatalf("an empty database: %v", err)
	}
	if engine == "sqlite" {
		if _, err := os.Stat(dsn); !os.IsNotExist(err) {
			t.Fatalf("the refused open created %s: %v", dsn, err)
		}
		// Another program's SQLite file is not a store either, and stays
		// as it was.
		other, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Exec("CREATE TABLE notes (x TEXT)"); err != nil {
			t.Fatal(err)
		}
		other.Close()
		if _, err := sqlstore.OpenExisting(ctx, dsn); err == nil || !strings.Contains(err.Error(), "no shipgate store") || !strings.Contains(err.Error(), "no users table") {
			t.Fatalf("another program's database: %v", err)
		}
		other, _ = sql.Open("sqlite", dsn)
		var n int
		other.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'table'").Scan(&n)
		other.Close()
		if n != 1 {
			t.Fatalf("the refused open changed the file: %d tables", n)
		}
		// A directory is not a database file.
		if _, err := sqlstore.OpenExisting(ctx, filepath.Dir(dsn)); err == nil || !strings.Contains(err.Error(), "no shipgate store") {
			t.Fatalf("a directory: %v", err)
		}
		// A file: URI would be read as a relative path named "file:…":
		// refused by Open and OpenExisting alike, creating nothing.
		// (The relative path would be under the package's directory.)
		t.Cleanup(func() { os.RemoveAll("file:") })
		for _, open := range []func() error{
			func() error { _, err := sqlstore.Open(ctx, "file:"+dsn); return err },
			func() error { _, err := sqlstore.OpenExisting(ctx, "file:"+dsn); return err },
		} {
			if err := open(); err == nil || !strings.Contains(err.Error(), "file: URI") {
				t.Fatalf("file: URI: %v", err)
			}
		}
		if _, err := os.Stat("file:"); !os.IsNotExist(err) {
			t.Fatalf("a file: URI created the directory file: (%v)", err)
		}
		os.Remove(dsn)
	} else {
		// Still empty: the refused open created no table.
		if _, err := sqlstore.OpenExisting(ctx, dsn); err == nil || !strings.Contains(err.Error(), "no users table") {
			t.Fatalf("empty database, again: %v", err)
		}
	}
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlstore.OpenExisting(ctx, dsn)
	if err != nil {
		t.Fatalf("an existing store: %v", err)
	}
	defer db.Close()
	if _, err := db.Migrations(ctx); err != nil {
		t.Fatal(err)
	}
}

// Ping connects and creates nothing: serve calls it before it makes its
// data directory, so an unreachable PostgreSQL leaves no --data behind.
func testPing(t *testing.T, engine string) {
	dsn := testutil.DSN(t, engine)
	if err := sqlstore.Ping(ctx, dsn); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if engine == "sqlite" {
		if _, err := os.Stat(dsn); !os.IsNotExist(err) {
			t.Fatalf("ping created %s: %v", dsn, err)
		}
		return
	}
	// Nothing was migrated into the database.
	if _, err := sqlstore.OpenExisting(ctx, dsn); err == nil || !strings.Contains(err.Error(), "no users table") {
		t.Fatalf("after a ping: %v", err)
	}
	bad := "postgres://postgres:hunter2@127.0.0.1:1/db?sslmode=disable"
	err := sqlstore.Ping(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "connect to postgres database") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("ping an unreachable database: %v; want a connection error without the password", err)
	}
}

package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// OpenExisting opens the store named by dsn like Open, but only when it is
// already there: a SQLite file that does not exist, or a database (SQLite
// or PostgreSQL) without shipgate's users table, is refused and left as it
// was. Offline tools (admin reset-token) use it, so a mistyped path never
// becomes a new, empty store. Pending migrations are applied, as a server
// starting on the store would.
func OpenExisting(ctx context.Context, dsn string) (*DB, error) {
	if err := checkSQLitePath(dsn); err != nil {
		return nil, err
	}
	if !isPostgres(dsn) {
		if fi, err := os.Stat(dsn); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("no shipgate store at %s: the file does not exist (nothing was created)", dsn)
		}
	}
	hasUsers, err := hasUsersTable(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if !hasUsers {
		return nil, fmt.Errorf("no shipgate store at %s: the database has no users table (nothing was changed)", redactDSN(dsn))
	}
	return Open(ctx, dsn)
}

// hasUsersTable reports whether the database of dsn has a users table,
// opening it without creating anything (SQLite: mode=rw).
func hasUsersTable(ctx context.Context, dsn string) (bool, error) {
	var db *sql.DB
	var err error
	query := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'"
	if isPostgres(dsn) {
		db, err = sql.Open("pgx", dsn)
		query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'users'"
	} else {
		db, err = sql.Open("sqlite", "file:"+(&url.URL{Path: dsn}).EscapedPath()+"?mode=rw&_pragma=busy_timeout(10000)")
	}
	if err != nil {
		return false, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
		return false, fmt.Errorf("read %s: %w", redactDSN(dsn), err)
	}
	return n > 0, nil
}

// checkSQLitePath refuses a SQLite DSN given as a file: URI: Open takes a
// path, and would read "file:/x/shipgate.db" as a relative path under a
// directory named "file:".
func checkSQLitePath(dsn string) error {
	if !isPostgres(dsn) && strings.HasPrefix(dsn, "file:") {
		return fmt.Errorf("the SQLite database %q is a file: URI; give its path instead (%s)", dsn, strings.TrimPrefix(strings.TrimPrefix(dsn, "file:"), "//"))
	}
	return nil
}

// SQLitePath is the database file of dsn, when dsn names a SQLite store
// by its path (a file: URI, which Open refuses, names none).
func SQLitePath(dsn string) (string, bool) {
	if isPostgres(dsn) || strings.HasPrefix(dsn, "file:") {
		return "", false
	}
	return dsn, true
}

// redactDSN is dsn without its password, fit for an error message.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && isPostgres(dsn) {
		return u.Redacted()
	}
	return dsn
}

// Ping connects to the PostgreSQL database of dsn and disconnects,
// creating and migrating nothing: serve checks that the database is
// reachable before it creates its data directory. A SQLite dsn is not
// opened (nil): its file is made by Open.
func Ping(ctx context.Context, dsn string) error {
	if !isPostgres(dsn) {
		return nil
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("connect to postgres database: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to postgres database %s: %w (nothing was created)", redactDSN(dsn), err)
	}
	return nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/shipgate/shipgate"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is a handle to the store. It is safe for concurrent use.
type DB struct {
	write   *sql.DB
	read    *sql.DB
	dialect dialect
	dsn     string
	// stmtsWrite and stmtsRead keep SQLite's statements prepared, one
	// cache per pool; nil on PostgreSQL.
	stmtsWrite, stmtsRead *stmtCache
	// releaseDecodes counts releases decoded by FindRelease, for tests.
	releaseDecodes atomic.Int64
	commits        atomic.Int64
	flags          flagWatch // wakes waiters for flag changes (flag_watch.go)
	// flagEpoch and sdkKeyEpoch move after a committed flag change or
	// SDK key change (FlagEpoch, SDKKeyEpoch).
	flagEpoch, sdkKeyEpoch atomic.Uint64

	// Now returns the current time; tests replace it to control time.
	Now func() time.Time
	// Outbox, if set, turns an audit event into notifications, which are
	// written to the outbox in the event's own transaction: a change is
	// never committed without the notifications it owes.
	Outbox func(ctx context.Context, tx *Tx, e shipgate.AuditEvent) ([]Notification, error)
	// CheckpointOutbox, if set, turns a new audit checkpoint into
	// notifications, written to the outbox with the checkpoint.
	CheckpointOutbox func(ctx context.Context, cp shipgate.AuditCheckpoint) ([]Notification, error)
	// Notified, if set, is called after a commit that queued
	// notifications, to wake their delivery.
	Notified func()
	// Committed, if set, is called after each commit with the audit
	// events it appended, in order: counters fed from it never count a
	// change that was rolled back. It runs on the committing goroutine,
	// so it must not block or write to the store.
	Committed func(events []shipgate.AuditEvent)
	// ArtifactCheck, if set, says whether a release's artifact can still
	// be deployed: nil when it can (with a note when it cannot be checked
	// here, such as a URL the agent verifies), or an error saying why not.
	// A rollback to an artifact that cannot be deployed is refused up
	// front (see CheckArtifact). Unset, nothing is checked.
	ArtifactCheck func(ctx context.Context, art shipgate.Artifact) (note string, err error)
}

// Open opens (creating if needed) the store named by dsn and applies pending
// migrations. dsn is a postgres:// or postgresql:// URL, or a path to a
// SQLite database file.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db := &DB{Now: time.Now, dsn: dsn}
	var err error
	if isPostgres(dsn) {
		db.dialect = postgresDialect
		if db.write, err = sql.Open("pgx", dsn); err != nil {
			return nil, err
		}
		db.write.SetMaxOpenConns(16)
		db.write.SetMaxIdleConns(16)
		db.read = db.write
	} else {
		if err := checkSQLitePath(dsn); err != nil {
			return nil, err
		}
		db.dialect = sqliteDialect
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		// The database holds token hashes and sealed secrets: create it
		// readable by its owner only (SQLite gives -wal and -shm the same
		// mode).
		f, err := os.OpenFile(dsn, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
		f.Close()
		// SQLite allows one writer at a time: one write connection taking
		// the lock at BEGIN (so it never has to upgrade and deadlock), and a
		// pool of readers that WAL lets run beside it.
		params := "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		base := "file:" + (&url.URL{Path: dsn}).EscapedPath()
		if db.write, err = sql.Open("sqlite", base+"?"+params+"&_txlock=immediate"); err != nil {
			return nil, err
		}
		db.write.SetMaxOpenConns(1)
		if db.read, err = sql.Open("sqlite", base+"?"+params+"&_pragma=query_only(1)"); err != nil {
			db.write.Close()
			return nil, err
		}
		db.read.SetMaxOpenConns(8)
		db.stmtsWrite, db.stmtsRead = newStmtCache(db.write), newStmtCache(db.read)
	}
	if err := db.write.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", db.dialect.name, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Commits counts the write transactions this store committed, for
// monitoring and for tests of what is written together.
func (db *DB) Commits() int64 { return db.commits.Load() }

// Engine names the database engine: "sqlite" or "postgres".
func (db *DB) Engine() string { return db.dialect.name }

// Close closes the database.
func (db *DB) Close() error {
	db.stmtsWrite.close()
	db.stmtsRead.close()
	err := db.write.Close()
	if db.read != db.write {
		if rerr := db.read.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// Tx is one transaction with a fixed notion of now, so every row and audit
// event it writes carries the same time.
type Tx struct {
	tx          *sql.Tx
	db          *DB
	now         time.Time
	writable    bool
	afterCommit []func()
	notified    bool
	// audited keeps the events appended, for DB.Committed.
	audited []shipgate.AuditEvent
	// unprepared lists the queries run without a prepared statement, to
	// prepare once the transaction has ended (see stmtCache).
	unprepared []string
	// decoded keeps the releases' frozen content decoded in this
	// transaction (see FindRelease).
	decoded map[int64]decodedRelease
}

// Now is the transaction's time.
func (tx *Tx) Now() time.Time { return tx.now }

// AfterCommit registers f to run once the transaction has committed, for
// wake-ups that must not fire for changes that were rolled back.
func (tx *Tx) AfterCommit(f func()) { tx.afterCommit = append(tx.afterCommit, f) }

// Update runs fn in a write transaction and commits if fn returns nil. All
// writers are serialised: SQLite by its write lock, PostgreSQL by a row lock
// on the audit head taken first, so appends to the chain never race.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	sqltx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// Read the clock only once this transaction is the writer (below), so
	// times never go backwards along the audit chain.
	tx := &Tx{tx: sqltx, db: db, writable: true}
	defer func() {
		sqltx.Rollback()
		tx.prepareMissed(ctx) // only now: it needs the connection tx held
	}()
	if db.dialect.lockHead != "" {
		if _, err := sqltx.ExecContext(ctx, db.dialect.lockHead); err != nil {
			return fmt.Errorf("lock audit head: %w", err)
		}
	}
	tx.now = db.now()
	if err := fn(tx); err != nil {
		sqltx.Rollback()
		db.recordRefused(ctx, err) // a policy's refusal stays on record
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.commits.Add(1)
	for _, f := range tx.afterCommit {
		f()
	}
	if tx.notified && db.Notified != nil {
		db.Notified()
	}
	if len(tx.audited) > 0 && db.Committed != nil {
		db.Committed(tx.audited)
	}
	return nil
}

// View runs fn in a read-only transaction: a consistent snapshot.
func (db *DB) View(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{} // SQLite: a read transaction in WAL mode is a snapshot
	if db.dialect.name == "postgres" {
		opts = &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	sqltx, err := db.read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqltx, db: db, now: db.now()}
	defer func() {
		sqltx.Rollback()
		tx.prepareMissed(ctx) // only now: it needs a connection of the pool
	}()
	return fn(tx)
}

func (tx *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, tx.db.dialect.rebind(query), args...)
}

func (tx *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, tx.db.dialect.rebind(query), args...)
}

// queryRows is query for a row loop that runs no other statement while it
// reads (see Tx.stmt): its statement may stay prepared.
func (tx *Tx) queryRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.query(ctx, query, args...)
}

func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, tx.db.dialect.rebind(query), args...)
}

// dialect holds everything that differs between the engines.
type dialect struct {
	name        string
	dollarBinds bool
	// lockHead serialises writers at the start of a write transaction.
	lockHead string
	// lockMigrations serialises servers migrating one database at once.
	lockMigrations, unlockMigrations string
	// byteLength is an expression (with %s for the column) giving a text's
	// length in bytes.
	byteLength string
}

var (
	sqliteDialect   = dialect{name: "sqlite", byteLength: "LENGTH(CAST(%s AS BLOB))"}
	postgresDialect = dialect{
		name:             "postgres",
		dollarBinds:      true,
		lockHead:         "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE",
		lockMigrations:   "SELECT pg_advisory_lock(7426892001)",
		unlockMigrations: "SELECT pg_advisory_unlock(7426892001)",
		byteLength:       "OCTET_LENGTH(%s)",
	}
)

// rebind turns ? placeholders into $1, $2, … for PostgreSQL. Queries in this
// package never contain a literal '?'.
func (d dialect) rebind(q string) string {
	if !d.dollarBinds || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Time helpers: every time column is unix microseconds.

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// notFound maps sql.ErrNoRows to a domain not-found error.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return shipgate.Errorf(shipgate.ENOTFOUND, format, args...)
	}
	return err
}

// isUniqueViolation reports whether err is a unique-constraint failure in
// either engine.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

// DSNOf returns the data source name the store was opened with, for tools
// and tests that need a second, raw connection.
func DSNOf(db *DB) string { return db.dsn }

package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
	sum     string // hex sha256 of sql, recorded when applied
}

// checksumVersion is the migration that added schema_migrations.sha256:
// rows are written with their checksum once it is applied, and the rows
// applied before it are filled from the embedded files.
const checksumVersion = 18

func loadMigrations(engine string) ([]migration, error) {
	dir := "migrations/" + engine
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration file %s/%s is not named NNNN_name.sql", dir, name)
		}
		b, err := migrations.ReadFile(dir + "/" + name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, migration{version: v, name: name, sql: string(b), sum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own transaction with its record and the
// sha256 of its text. An applied migration whose embedded file no longer
// matches its recorded checksum is refused before anything is applied:
// migrations are never edited, or two stores of one version would differ.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(db.dialect.name)
	if err != nil {
		return err
	}
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if db.dialect.lockMigrations != "" {
		if _, err := conn.ExecContext(ctx, db.dialect.lockMigrations); err != nil {
			return fmt.Errorf("lock migrations: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), db.dialect.unlockMigrations)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return err
	}
	if err := checkMigrationSums(ms, applied); err != nil {
		return err
	}
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		_, sums := applied[checksumVersion]
		sums = sums || m.version == checksumVersion
		record := `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`
		args := []any{m.version, m.name, micros(time.Now())}
		if sums {
			record = `INSERT INTO schema_migrations (version, name, applied_at, sha256) VALUES (?, ?, ?, ?)`
			args = append(args, m.sum)
		}
		if _, err := tx.ExecContext(ctx, db.dialect.rebind(record), args...); err != nil {
			tx.Rollback()
			return fmt.Errorf("record migration %s: %w", m.name, err)
		}
		if m.version == checksumVersion {
			if err := db.fillMigrationSums(ctx, tx, ms); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit migration %s: %w", m.name, err)
		}
		applied[m.version] = m.sum
	}
	return nil
}

// appliedMigrations maps each applied version to its recorded sha256
// ("" when it was applied before checksums were recorded).
func appliedMigrations(ctx context.Context, conn *sql.Conn) (map[int]string, error) {
	applied := map[int]string{}
	rows, err := conn.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		applied[v] = ""
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, ok := applied[checksumVersion]; !ok {
		return applied, nil
	}
	rows, err = conn.QueryContext(ctx, `SELECT version, sha256 FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, err
		}
		applied[v] = sum
	}
	return applied, rows.Err()
}

// checkMigrationSums refuses an applied migration whose embedded file
// differs from the text that was applied. Versions without a file (applied
// by a newer shipgate) or without a recorded sum are not judged.
func checkMigrationSums(ms []migration, applied map[int]string) error {
	for _, m := range ms {
		if rec := applied[m.version]; rec != "" && rec != m.sum {
			return fmt.Errorf("migration %s was changed after it was applied (recorded sha256 %s…, now %s…); migrations are never edited — add a new one",
				m.name, shortSum(rec), shortSum(m.sum))
		}
	}
	return nil
}

func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// fillMigrationSums records, in the transaction that adds the sha256
// column, the checksum of every migration applied before it, taken from
// the embedded files.
func (db *DB) fillMigrationSums(ctx context.Context, tx *sql.Tx, ms []migration) error {
	for _, m := range ms {
		if _, err := tx.ExecContext(ctx, db.dialect.rebind(`UPDATE schema_migrations SET sha256 = ? WHERE version = ? AND sha256 = ''`), m.sum, m.version); err != nil {
			return fmt.Errorf("record checksum of migration %s: %w", m.name, err)
		}
	}
	return nil
}

// Migrations lists the applied migrations, oldest first.
func (db *DB) Migrations(ctx context.Context) ([]string, error) {
	return scanStrings(db.read.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY version`))
}

// scanStrings reads the one text column of every row of a query.
func scanStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

package sqlstore

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Files are the files reading the store named by dsn involves, which hold
// its data or the credentials to it: for SQLite the database file and the
// files SQLite keeps beside it; for PostgreSQL the password file, the
// service file and the client TLS files the driver reads (given in the URL,
// by PG* variables, or its defaults in the home directory). The server
// refuses them as artifacts. A path may not exist.
func Files(dsn string, getenv func(string) string) []string {
	if !isPostgres(dsn) {
		return []string{dsn, dsn + "-wal", dsn + "-shm", dsn + "-journal"}
	}
	var out []string
	var q url.Values
	if u, err := url.Parse(dsn); err == nil {
		q = u.Query()
	}
	for _, pe := range [][2]string{{"passfile", "PGPASSFILE"}, {"servicefile", "PGSERVICEFILE"},
		{"sslkey", "PGSSLKEY"}, {"sslcert", "PGSSLCERT"}, {"sslrootcert", "PGSSLROOTCERT"}} {
		for _, p := range []string{q.Get(pe[0]), getenv(pe[1])} {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, ".pgpass"), filepath.Join(home, ".pg_service.conf"), filepath.Join(home, ".postgresql"))
	}
	return out
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

package sqlstore_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shipgate/shipgate/internal/sqlstore"
)

// The files a store's connection reads are what the server refuses as
// artifacts: SQLite's database and its companions; PostgreSQL's password,
// service and client TLS files, wherever the driver would look for them.
func TestFiles(t *testing.T) {
	env := map[string]string{"PGPASSFILE": "/etc/shipgate/pgpass", "PGSSLKEY": "/etc/shipgate/pg.key"}
	getenv := func(k string) string { return env[k] }
	if got := sqlstore.Files("/srv/db/shipgate.db", getenv); !slices.Equal(got, []string{"/srv/db/shipgate.db", "/srv/db/shipgate.db-wal", "/srv/db/shipgate.db-shm", "/srv/db/shipgate.db-journal"}) {
		t.Errorf("SQLite: %v", got)
	}
	got := sqlstore.Files("postgres://shipgate@db/shipgate?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem&sslcert=/etc/shipgate/pg.crt", getenv)
	want := []string{"/etc/shipgate/pgpass", "/etc/shipgate/pg.key", "/etc/shipgate/pg.crt", "/etc/ssl/db-ca.pem"}
	if home, err := os.UserHomeDir(); err == nil {
		want = append(want, filepath.Join(home, ".pgpass"), filepath.Join(home, ".pg_service.conf"), filepath.Join(home, ".postgresql"))
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("PostgreSQL: %v lacks %s", got, w)
		}
	}
}

package testutil

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// InsertRawRelease writes a release of service to env straight into the
// database, past every check the store makes, the way data stored before a
// rule existed (or written by someone with database access) would be
// there. The release is pending approval, frozen from the service's current
// pipeline and the environment's policy like CreateRelease does; edit
// changes its content (version, source, inputs) before it is written. No
// audit event records it. It returns the release's id.
func InsertRawRelease(t testing.TB, db *sqlstore.DB, service, env string, edit func(*shipgate.ReleaseContent)) int64 {
	t.Helper()
	ctx := context.Background()
	var svc *shipgate.Service
	if err := db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		svc, err = tx.FindService(ctx, service)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	policy, ok := svc.Spec.Environment(env)
	if !ok {
		t.Fatalf("service %s has no environment %s", service, env)
	}
	now := db.Now().UTC().Truncate(time.Microsecond)
	c := shipgate.ReleaseContent{Service: service, ServiceRevision: svc.Revision, Environment: env, Version: "raw",
		Kind: shipgate.ReleaseKindDeploy, Artifact: Artifact("raw"), Inputs: map[string]string{}, SecretInputs: map[string]string{},
		Pipeline: svc.Spec.Pipeline, Policy: *policy, CreatedBy: "raw", CreatedAt: now}
	if edit != nil {
		edit(&c)
	}
	content, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	raw := RawDB(t, db)
	q := rebind(db, `INSERT INTO releases (service, environment, version, kind, artifact_sha256, content, digest, state, reason, run, created_by, created_at, updated_at, generation)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', 0, ?, ?, ?, 1) RETURNING id`)
	var id int64
	if err := raw.QueryRow(q, c.Service, c.Environment, c.Version, c.Kind, c.Artifact.SHA256, string(content), c.Digest(),
		shipgate.StatePendingApproval, c.CreatedBy, now.UnixMicro(), now.UnixMicro()).Scan(&id); err != nil {
		t.Fatalf("insert release: %v", err)
	}
	return id
}

// InsertRawAgent writes an online agent with labels straight into the
// database, past every check registration makes, the way an agent
// registered before a rule existed would be there: with a join token of
// its own and a secret nobody holds. No audit event records it.
func InsertRawAgent(t testing.TB, db *sqlstore.DB, name string, labels map[string]string) {
	t.Helper()
	js, err := json.Marshal(labels)
	if err != nil {
		t.Fatal(err)
	}
	now := db.Now().UnixMicro()
	raw := RawDB(t, db)
	q := `INSERT INTO agent_tokens (name, hash, prefix, created_by, created_at) VALUES (?, ?, 'sga_raw', 'raw', ?) RETURNING id`
	var tokenID int64
	if err := raw.QueryRow(rebind(db, q), "raw "+name, shipgate.HashToken(shipgate.NewSecret(shipgate.AgentTokenPrefix)), now).Scan(&tokenID); err != nil {
		t.Fatalf("insert agent token: %v", err)
	}
	q = `INSERT INTO agents (name, token_id, secret_hash, labels, version, hostname, registered_at, last_seen) VALUES (?, ?, ?, ?, 'raw', 'raw', ?, ?)`
	if _, err := raw.Exec(rebind(db, q), name, tokenID, shipgate.HashToken(shipgate.NewSecret(shipgate.AgentSecretPrefix)), string(js), now, now); err != nil {
		t.Fatalf("insert agent: %v", err)
	}
}

// rebind turns the ? placeholders of q into PostgreSQL's $n when db is
// PostgreSQL.
func rebind(db *sqlstore.DB, q string) string {
	if db.Engine() == "postgres" {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	return q
}

// RawDB opens the store's database directly, as an intruder with database
// access would; it is closed when the test ends.
func RawDB(t testing.TB, db *sqlstore.DB) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", sqlstore.DSNOf(db)
	if db.Engine() == "sqlite" {
		driver, dsn = "sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)"
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

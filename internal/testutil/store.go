package testutil

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Clock is a settable clock for stores and planners.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// NewStore opens a fresh store of the engine, closed when the test ends.
func NewStore(t testing.TB, engine string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), DSN(t, engine))
	if err != nil {
		t.Fatalf("open %s store: %v", engine, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Update runs fn in a write transaction and fails the test on error.
func Update(t testing.TB, db *sqlstore.DB, fn func(tx *sqlstore.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// View runs fn in a read transaction and fails the test on error.
func View(t testing.TB, db *sqlstore.DB, fn func(tx *sqlstore.Tx) error) {
	t.Helper()
	if err := db.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// MustUser creates a user with roles and groups.
func MustUser(t testing.TB, db *sqlstore.DB, name string, roles []shipgate.Role, groups ...string) *shipgate.User {
	t.Helper()
	u := &shipgate.User{Name: name, Roles: roles, Groups: groups}
	Update(t, db, func(tx *sqlstore.Tx) error { return tx.CreateUser(context.Background(), "test", u) })
	return u
}

// ServiceYAML is a service with a fast staging and a guarded production.
const ServiceYAML = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: web
spec:
  environments:
    - name: staging
      approvals: { required: 0 }
    - name: production
      requires: [staging]
      approvals:
        required: 2
        from_groups: [release-managers]
        expires_after: 1h
  pipeline:
    jobs:
      - name: deploy
        retries: 1
        steps:
          - run: echo deploy
      - name: verify
        needs: [deploy]
        steps:
          - run: echo verify
`

// MustApply applies a service file.
func MustApply(t testing.TB, db *sqlstore.DB, src string) *shipgate.ServiceRevision {
	t.Helper()
	spec, err := config.ParseService("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var rev *shipgate.ServiceRevision
	Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		rev, _, err = tx.ApplyService(context.Background(), "test", spec, "test.yaml", src)
		return err
	})
	return rev
}

// Artifact is a syntactically valid artifact for releases that never run.
func Artifact(version string) shipgate.Artifact {
	return shipgate.Artifact{Location: "/srv/web-" + version + ".tar", SHA256: shipgate.SHA256Hex([]byte(version)), Size: int64(len(version))}
}

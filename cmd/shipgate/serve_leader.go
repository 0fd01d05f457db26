package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shipgate/shipgate/internal/leader"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// maxLeaderTTL bounds --leader-ttl: past it, a dead leader's work would
// wait that long for another server.
const maxLeaderTTL = 10 * time.Minute

// checkLeaderTTL validates --leader-ttl.
func checkLeaderTTL(ttl time.Duration) error {
	if err := leader.ValidateTTL(ttl); err != nil {
		return fmt.Errorf("--leader-ttl %w", err)
	}
	if ttl > maxLeaderTTL {
		return fmt.Errorf("--leader-ttl must be at most %s, got %s: a server that dies holding the lease stops the background work that long", maxLeaderTTL, ttl)
	}
	return nil
}

// newElector is this server's part in the leader election. Servers on one
// PostgreSQL database compete for the lease; on SQLite the server is alone
// (serve.lock and the database file's lock see to it) and always leads,
// without touching the lease table.
func newElector(db *sqlstore.DB, ttl time.Duration, logger *slog.Logger) *leader.Elector {
	if ttl == 0 {
		ttl = leader.DefaultTTL // embedded servers (demo) that leave it unset
	}
	e := &leader.Elector{Holder: leader.NewHolderID(), TTL: ttl, Logger: logger}
	if db.Engine() == "postgres" {
		e.Store = db
	}
	return e
}

// leaderWork runs the background loops that change state on their own,
// each until ctx ends (the tenure ends or the server stops), and waits for
// all of them. The API, agents' claims and the built-in runner are not
// among them: every server serves those, safely, since every write takes
// the store's write lock (the audit chain's head on PostgreSQL) and a
// release is updated only at the generation that was read.
func leaderWork(loops ...func(ctx context.Context)) func(ctx context.Context) {
	return func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, run := range loops {
			wg.Add(1)
			go func() { defer wg.Done(); run(ctx) }()
		}
		wg.Wait()
	}
}

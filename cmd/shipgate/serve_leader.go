package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/internal/durable"
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
//
// On PostgreSQL the holder name is kept in <data>/leader-holder: the
// previous run on this --data is dead (this run holds serve.lock, which
// only process exit releases), so a server restarted after a crash takes
// its own lease back at once instead of leaving the background work
// stopped for a TTL.
func newElector(db *sqlstore.DB, ttl time.Duration, dataDir string, logger *slog.Logger) *leader.Elector {
	if ttl == 0 {
		ttl = leader.DefaultTTL // embedded servers (demo) that leave it unset
	}
	e := &leader.Elector{Holder: leader.NewHolderID(), TTL: ttl, Logger: logger}
	if db.Engine() != "postgres" {
		return e
	}
	e.Store = db
	path := filepath.Join(dataDir, "leader-holder")
	if b, err := os.ReadFile(path); err == nil {
		e.Predecessor = previousHolder(b)
	}
	if err := durable.WriteFile(path, []byte(e.Holder+"\n")); err != nil {
		// Only a restart after a crash is slower: it waits out the TTL.
		logger.Warn("leader: could not record this server's holder name", "path", path, "err", err)
	}
	return e
}

// previousHolder reads the holder name recorded by the previous run.
func previousHolder(b []byte) string { return strings.TrimSpace(string(b)) }

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

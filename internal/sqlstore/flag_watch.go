package sqlstore

import "sync"

// flagWatch wakes the waiters for a change of flags (agents long-polling
// GET /api/v1/agent/flags) when a transaction that changed a flag commits
// on this server. Other servers' changes are not seen here: waiters also
// look at the generation in the database every so often.
type flagWatch struct {
	mu sync.Mutex
	ch chan struct{} // closed and replaced at every change
}

// FlagsChanged returns a channel closed at the next committed change of
// any flag made through this store (every environment: a waiter checks
// its own generation again).
func (db *DB) FlagsChanged() <-chan struct{} {
	db.flags.mu.Lock()
	defer db.flags.mu.Unlock()
	if db.flags.ch == nil {
		db.flags.ch = make(chan struct{})
	}
	return db.flags.ch
}

func (db *DB) flagsChanged() {
	db.flags.mu.Lock()
	defer db.flags.mu.Unlock()
	if db.flags.ch != nil {
		close(db.flags.ch)
		db.flags.ch = nil
	}
}

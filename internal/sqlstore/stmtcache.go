package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// maxCachedStatements bounds the statement cache: queries built with a
// varying number of placeholders must not grow it without end.
const maxCachedStatements = 512

// stmtCache keeps SQLite statements prepared, per connection pool, so a
// query run again is not parsed again. Parsing was about a sixth of the
// server's CPU with 200 agents long-polling (docs/benchmarks.md).
// PostgreSQL needs none: pgx already keeps a prepared statement per query
// and connection.
//
// A statement is prepared after the transaction that first ran it ends:
// preparing takes a connection, and a SQLite write transaction holds the
// only one. Until then the query is parsed at each use, as before.
type stmtCache struct {
	pool *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	// parsed counts statements run without a prepared statement.
	parsed atomic.Int64
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, m: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for q, or nil when it has none yet.
func (c *stmtCache) get(q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// prepare prepares the queries a transaction ran unprepared. A query that
// fails to prepare is left to be parsed at each use.
func (c *stmtCache) prepare(ctx context.Context, queries []string) {
	for _, q := range queries {
		c.mu.Lock()
		_, ok := c.m[q]
		full := len(c.m) >= maxCachedStatements
		c.mu.Unlock()
		if ok || full {
			continue
		}
		st, err := c.pool.PrepareContext(context.WithoutCancel(ctx), q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, ok := c.m[q]; ok || len(c.m) >= maxCachedStatements {
			st.Close()
		} else {
			c.m[q] = st
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// stmt returns tx's use of the prepared statement for q, or nil when q is
// not prepared yet; then q is noted, to be prepared once tx has ended.
//
// Only statements whose result is consumed before the next statement runs
// may use it (exec, queryRow, and the row loops that call nothing else
// inside): SQLite resets a prepared statement when it is run again, which
// would cut short rows still being read from it.
func (tx *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	c := tx.db.stmtsRead
	if tx.writable {
		c = tx.db.stmtsWrite
	}
	if c == nil {
		return nil
	}
	if st := c.get(q); st != nil {
		return tx.tx.StmtContext(ctx, st)
	}
	c.parsed.Add(1)
	if len(tx.unprepared) < maxCachedStatements {
		tx.unprepared = append(tx.unprepared, q)
	}
	return nil
}

// prepareMissed prepares what tx ran unprepared, once tx has ended and
// released its connection.
func (tx *Tx) prepareMissed(ctx context.Context) {
	if len(tx.unprepared) == 0 {
		return
	}
	c := tx.db.stmtsRead
	if tx.writable {
		c = tx.db.stmtsWrite
	}
	c.prepare(ctx, tx.unprepared)
}

// ParsedStatements counts the statements this store ran without a
// prepared statement (SQLite; always 0 on PostgreSQL, where the driver
// prepares every query). Tests and benchmarks use it to see that hot
// queries are parsed once, not at each use.
func (db *DB) ParsedStatements() int64 {
	var n int64
	for _, c := range []*stmtCache{db.stmtsWrite, db.stmtsRead} {
		if c != nil {
			n += c.parsed.Load()
		}
	}
	return n
}

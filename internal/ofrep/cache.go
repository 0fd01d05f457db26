package ofrep

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shipgate/shipgate"
)

// Loader reads the live flags of an environment from where they are kept
// (the database, for the server).
type Loader interface {
	// FlagGeneration is a number that moves with every change of a flag
	// of env: a cheap read, asked often.
	FlagGeneration(ctx context.Context, env string) (int64, error)
	// EnvFlags returns every live flag of env and its generation.
	EnvFlags(ctx context.Context, env string) ([]shipgate.FlagState, int64, error)
}

// DefaultMaxAge is how long Cache serves a snapshot before it asks the
// Loader whether the generation moved, when nothing in this process
// changed a flag: the longest a change made by another server sharing the
// database takes to be served here.
const DefaultMaxAge = 250 * time.Millisecond

// Cache is a Source that keeps the compiled flags of each environment and
// reloads them when the environment's generation moves. It asks the
// Loader for the generation when its snapshot is older than MaxAge, or at
// once when Changed moved — the signal of a change made in this process,
// so a kill through this server is served by its very next evaluation.
type Cache struct {
	Loader Loader
	// Changed, if set, returns a counter that moves after every committed
	// flag change made in this process (sqlstore.DB.FlagEpoch).
	Changed func() uint64
	// MaxAge: see DefaultMaxAge. A negative MaxAge asks every time.
	MaxAge time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	mu   sync.Mutex // serialises reloads
	envs sync.Map   // env → *atomic.Pointer[cached]
}

type cached struct {
	snap    *Snapshot
	epoch   uint64
	checked time.Time
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cache) epoch() uint64 {
	if c.Changed != nil {
		return c.Changed()
	}
	return 0
}

func (c *Cache) maxAge() time.Duration {
	if c.MaxAge == 0 {
		return DefaultMaxAge
	}
	return c.MaxAge
}

// Flags returns env's snapshot, reloaded if its generation moved.
func (c *Cache) Flags(ctx context.Context, env string) (*Snapshot, error) {
	slot := c.slot(env)
	// Read the epoch before the database: a change committing after this
	// read moves the epoch again, so the next call looks again.
	epoch := c.epoch()
	now := c.now()
	if cur := slot.Load(); cur != nil && cur.epoch == epoch && now.Sub(cur.checked) < c.maxAge() {
		return cur.snap, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := slot.Load(); cur != nil && cur.epoch == epoch && c.now().Sub(cur.checked) < c.maxAge() {
		return cur.snap, nil // another caller just looked
	}
	gen, err := c.Loader.FlagGeneration(ctx, env)
	if err != nil {
		return nil, err
	}
	if cur := slot.Load(); cur != nil && cur.snap.Generation == gen {
		slot.Store(&cached{snap: cur.snap, epoch: epoch, checked: now})
		return cur.snap, nil
	}
	states, gen, err := c.Loader.EnvFlags(ctx, env)
	if err != nil {
		return nil, err
	}
	snap := NewSnapshot(env, gen, states)
	slot.Store(&cached{snap: snap, epoch: epoch, checked: now})
	return snap, nil
}

func (c *Cache) slot(env string) *atomic.Pointer[cached] {
	if p, ok := c.envs.Load(env); ok {
		return p.(*atomic.Pointer[cached])
	}
	p, _ := c.envs.LoadOrStore(env, new(atomic.Pointer[cached]))
	return p.(*atomic.Pointer[cached])
}

package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shipgate/shipgate"
)

// Store is the lease storage the Elector needs (sqlstore.DB).
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, predecessor string) (shipgate.Lease, bool, error)
	RenewLease(ctx context.Context, name, holder string, term int64, ttl time.Duration) (shipgate.Lease, bool, error)
	ResignLease(ctx context.Context, name, holder string, term int64) (bool, error)
}

// DefaultTTL is how long a lease lasts without renewal.
const DefaultTTL = 15 * time.Second

// MinTTL is the shortest lease accepted: below it, ordinary database
// latency would end tenures that nothing is wrong with.
const MinTTL = time.Second

// Elector takes part in the election for one lease.
type Elector struct {
	// Store holds the lease; nil means this server is alone on its
	// database and always leads (SQLite).
	Store Store
	// Name is the lease (default shipgate.LeaderLeaseName); Holder names
	// this server in it (default NewHolderID()).
	Name, Holder string
	// Predecessor, if set, is the holder name of this server's previous
	// run, known to be dead (see sqlstore.AcquireLease): a server
	// restarted after a crash takes its own lease back at once instead of
	// waiting out the TTL.
	Predecessor string
	// TTL is how long the lease lasts without renewal (default DefaultTTL).
	TTL time.Duration
	// Interval is how often a leader renews and a follower tries to take
	// the lease (default TTL/3).
	Interval time.Duration
	// Margin is how long before the lease's expiry a leader whose
	// renewals fail stops its work (default TTL/4).
	Margin time.Duration
	// Logger receives gains and losses of leadership; nil means
	// slog.Default().
	Logger *slog.Logger

	leader atomic.Bool
	term   atomic.Int64
	mu     sync.Mutex
	change chan struct{} // closed and replaced on every gain or loss
}

// NewHolderID names this server instance in the lease: host name, process
// id and a random suffix, so two servers on one host, or a restarted one,
// never share a name.
func NewHolderID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// ValidateTTL checks a lease time to live as given to serve --leader-ttl.
func ValidateTTL(ttl time.Duration) error {
	if ttl < MinTTL {
		return fmt.Errorf("must be at least %s, got %s", MinTTL, ttl)
	}
	return nil
}

// IsLeader reports whether this server leads now.
func (e *Elector) IsLeader() bool { return e.leader.Load() }

// Term is the lease term of the current or last tenure (0 before the
// first, and always 0 for an Elector without a Store).
func (e *Elector) Term() int64 { return e.term.Load() }

// Changed returns a channel closed at the next gain or loss of
// leadership, for waiting on one without polling.
func (e *Elector) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.change == nil {
		e.change = make(chan struct{})
	}
	return e.change
}

func (e *Elector) setLeader(v bool, term int64) {
	e.term.Store(term)
	e.leader.Store(v)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.change != nil {
		close(e.change)
	}
	e.change = make(chan struct{})
}

func (e *Elector) defaults() {
	if e.Name == "" {
		e.Name = shipgate.LeaderLeaseName
	}
	if e.Holder == "" {
		e.Holder = NewHolderID()
	}
	if e.TTL <= 0 {
		e.TTL = DefaultTTL
	}
	if e.Interval <= 0 {
		e.Interval = e.TTL / 3
	}
	if e.Margin <= 0 {
		e.Margin = e.TTL / 4
	}
	if e.Logger == nil {
		e.Logger = slog.Default()
	}
}

// Run takes part in the election until ctx ends. Each time this server
// becomes leader it calls work with a context that is cancelled when the
// tenure ends, and waits for work to return before it tries again. When
// ctx ends, a leader cancels work, waits for it, then resigns, so another
// server takes over on its next attempt instead of after the TTL.
func (e *Elector) Run(ctx context.Context, work func(ctx context.Context)) {
	e.defaults()
	if e.Store == nil {
		e.Logger.Info("leader: alone on this database, always leader", "holder", e.Holder)
		e.setLeader(true, 0)
		work(ctx)
		e.setLeader(false, 0)
		return
	}
	e.Logger.Info("leader: taking part in the election", "holder", e.Holder, "lease", e.Name, "ttl", e.TTL)
	var lastHolder string
	var lastErr string
	for ctx.Err() == nil {
		sent := time.Now() // before the request: the database's expiry is later than sent+TTL
		actx, cancel := context.WithTimeout(ctx, e.Interval)
		lease, ok, err := e.Store.AcquireLease(actx, e.Name, e.Holder, e.TTL, e.Predecessor)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			if err.Error() != lastErr { // once per new error, not every Interval
				e.Logger.Warn("leader: could not try to take the lease", "err", err)
				lastErr = err.Error()
			}
		case ok:
			lastErr, lastHolder = "", ""
			e.lead(ctx, lease, sent, work)
		case err == nil && lease.Holder != lastHolder:
			e.Logger.Info("leader: another server leads", "leader", lease.Holder, "term", lease.Term)
			lastHolder, lastErr = lease.Holder, ""
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.Interval):
		}
	}
}

// lead runs one tenure: work runs until the lease is lost or ctx ends.
func (e *Elector) lead(ctx context.Context, lease shipgate.Lease, sent time.Time, work func(ctx context.Context)) {
	term := lease.Term
	workCtx, stop := context.WithCancel(ctx)
	defer stop()
	e.setLeader(true, term)
	e.Logger.Info("leader: this server leads", "holder", e.Holder, "term", term, "expires_at", lease.ExpiresAt)
	done := make(chan struct{})
	go func() { defer close(done); work(workCtx) }()

	// valid is when this server must have stopped leading unless a
	// renewal succeeds: TTL−Margin after the last successful one was sent.
	valid := time.NewTimer(time.Until(sent.Add(e.TTL - e.Margin)))
	defer valid.Stop()
	deadline := sent.Add(e.TTL - e.Margin)
	renew := time.NewTicker(e.Interval)
	defer renew.Stop()
	end := func(why string, args ...any) {
		stop()
		<-done
		e.setLeader(false, term)
		e.Logger.Warn("leader: this server no longer leads; background work stopped", append([]any{"why", why, "term", term}, args...)...)
	}
	for {
		select {
		case <-ctx.Done():
			stop()
			<-done
			e.setLeader(false, term)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.Interval)
			defer cancel()
			if ok, err := e.Store.ResignLease(rctx, e.Name, e.Holder, term); err != nil {
				e.Logger.Warn("leader: could not resign; another server takes over when the lease expires", "err", err, "term", term)
			} else if ok {
				e.Logger.Info("leader: resigned", "term", term)
			}
			return
		case <-done:
			// The work ended on its own: let another server run it.
			e.setLeader(false, term)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.Interval)
			defer cancel()
			e.Store.ResignLease(rctx, e.Name, e.Holder, term)
			e.Logger.Warn("leader: background work ended on its own; resigned", "term", term)
			return
		case <-valid.C:
			end("the lease was not renewed in time", "ttl", e.TTL, "margin", e.Margin)
			return
		case <-renew.C:
			sent := time.Now()
			rctx, cancel := context.WithDeadline(ctx, deadline)
			l, ok, err := e.Store.RenewLease(rctx, e.Name, e.Holder, term, e.TTL)
			cancel()
			switch {
			case ok:
				deadline = sent.Add(e.TTL - e.Margin)
				valid.Reset(time.Until(deadline))
				lease = l
			case err == nil:
				end("the lease expired or was taken")
				return
			case ctx.Err() == nil:
				e.Logger.Warn("leader: renewal failed; retrying", "err", err, "term", term, "stop_by", deadline)
			}
		}
	}
}

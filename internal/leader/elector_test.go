package leader_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/leader"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// tenures records the leader-only work of several electors: which ran
// when, and whether two ever ran at once.
type tenures struct {
	t      *testing.T
	mu     sync.Mutex
	active string
	log    []string
}

// work is the leader-only work of the elector named name.
func (r *tenures) work(name string) func(ctx context.Context) {
	return func(ctx context.Context) {
		r.mu.Lock()
		if r.active != "" {
			r.t.Errorf("%s started leading while %s still was", name, r.active)
		}
		r.active = name
		r.log = append(r.log, name+" started")
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		r.active = ""
		r.log = append(r.log, name+" stopped")
		r.mu.Unlock()
	}
}

func (r *tenures) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, ", ")
}

// run starts e and returns a function that stops it and waits for Run to
// return.
func run(e *leader.Elector, work func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx, work) }()
	return func() { cancel(); <-done }
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

// TestElectorAlone: without a lease store (SQLite) the server leads at
// once and until it stops.
func TestElectorAlone(t *testing.T) {
	e := &leader.Elector{Logger: quietLogger()}
	r := &tenures{t: t}
	changed := e.Changed()
	stop := run(e, r.work("alone"))
	<-changed
	if !e.IsLeader() || e.Term() != 0 {
		t.Fatalf("leader %v, term %d; want always leader, term 0", e.IsLeader(), e.Term())
	}
	stop()
	if e.IsLeader() || r.String() != "alone started, alone stopped" {
		t.Fatalf("after stop: leader %v, work %q", e.IsLeader(), r)
	}
}

func eachEngine(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			fn(t, testutil.NewStore(t, engine))
		})
	}
}

// TestElectorHandsOver: one of two servers leads; the other takes over
// when it stops (resigning, so at the next attempt rather than after the
// TTL), never while its work still runs; each tenure has its own term.
func TestElectorHandsOver(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		r := &tenures{t: t}
		a := &leader.Elector{Store: db, Holder: "a", TTL: 2 * time.Second, Logger: quietLogger()}
		b := &leader.Elector{Store: db, Holder: "b", TTL: 2 * time.Second, Logger: quietLogger()}
		stopA := run(a, r.work("a"))
		testutil.WaitFor(t, "a to lead", a.IsLeader)
		stopB := run(b, r.work("b"))
		defer stopB()
		// a keeps the lease across renewals while b keeps trying.
		first := lease(t, db)
		testutil.WaitFor(t, "a to renew twice", func() bool {
			return lease(t, db).ExpiresAt.After(first.ExpiresAt.Add(a.Interval))
		})
		if l := lease(t, db); l.Holder != "a" || l.Term != 1 || b.IsLeader() {
			t.Fatalf("lease %+v, b leads %v; want a in term 1 only", l, b.IsLeader())
		}
		stopA()
		if a.IsLeader() {
			t.Fatal("a still leads after stopping")
		}
		testutil.WaitFor(t, "b to lead", b.IsLeader)
		if b.Term() != 2 || r.String() != "a started, a stopped, b started" {
			t.Fatalf("b in term %d, tenures %q", b.Term(), r)
		}
		stopB()
		if got := r.String(); got != "a started, a stopped, b started, b stopped" {
			t.Fatalf("tenures %q", got)
		}
	})
}

func lease(t *testing.T, db *sqlstore.DB) shipgate.Lease {
	t.Helper()
	var l shipgate.Lease
	err := db.View(context.Background(), func(tx *sqlstore.Tx) error {
		var err error
		l, err = tx.Lease(context.Background(), shipgate.LeaderLeaseName)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// failingRenewals is the real store whose renewals can be made to fail,
// as they do when this server loses its connection to the database.
type failingRenewals struct {
	*sqlstore.DB
	fail atomic.Bool
}

func (f *failingRenewals) RenewLease(ctx context.Context, name, holder string, term int64, ttl time.Duration) (shipgate.Lease, bool, error) {
	if f.fail.Load() {
		return shipgate.Lease{}, false, errors.New("connection refused")
	}
	return f.DB.RenewLease(ctx, name, holder, term, ttl)
}

// TestElectorStopsBeforeExpiry: a leader that cannot renew stops its work
// on its own clock, before the lease expires on the database's, so the
// server that takes over never overlaps it.
func TestElectorStopsBeforeExpiry(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		r := &tenures{t: t}
		cut := &failingRenewals{DB: db}
		var logs bytes.Buffer
		var logMu sync.Mutex
		a := &leader.Elector{Store: cut, Holder: "a", TTL: 2 * time.Second,
			Logger: slog.New(slog.NewTextHandler(&lockedBuffer{mu: &logMu, b: &logs}, nil))}
		b := &leader.Elector{Store: db, Holder: "b", TTL: 2 * time.Second, Logger: quietLogger()}
		stopA := run(a, r.work("a"))
		defer stopA()
		testutil.WaitFor(t, "a to lead", a.IsLeader)
		stopB := run(b, r.work("b"))
		defer stopB()
		cut.fail.Store(true)
		lost := a.Changed()
		testutil.WaitFor(t, "a to stop leading", func() bool { return !a.IsLeader() })
		<-lost
		expires := lease(t, db).ExpiresAt
		testutil.WaitFor(t, "b to take over", b.IsLeader)
		if got := r.String(); got != "a started, a stopped, b started" {
			t.Fatalf("tenures %q", got)
		}
		if l := lease(t, db); l.Holder != "b" || l.Term != 2 || l.AcquiredAt.Before(expires) {
			t.Fatalf("lease %+v; want b in term 2, taken after a's expiry %s", l, expires)
		}
		logMu.Lock()
		defer logMu.Unlock()
		if !strings.Contains(logs.String(), "renewal failed") || !strings.Contains(logs.String(), "not renewed in time") {
			t.Fatalf("a's log does not tell why it stopped:\n%s", logs.String())
		}
	})
}

// TestElectorStopsWhenRefused: a renewal the database refuses (the lease
// was resigned or taken behind this server's back) ends the tenure at
// once.
func TestElectorStopsWhenRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, db *sqlstore.DB) {
		r := &tenures{t: t}
		a := &leader.Elector{Store: db, Holder: "a", TTL: 2 * time.Second, Interval: 50 * time.Millisecond, Logger: quietLogger()}
		stopA := run(a, r.work("a"))
		defer stopA()
		testutil.WaitFor(t, "a to lead", a.IsLeader)
		lost := a.Changed()
		if ok, err := db.ResignLease(context.Background(), shipgate.LeaderLeaseName, "a", a.Term()); !ok || err != nil {
			t.Fatalf("resign behind a's back = %v, %v", ok, err)
		}
		<-lost
		if got := r.String(); !strings.HasPrefix(got, "a started, a stopped") {
			t.Fatalf("tenures %q; want a's work stopped", got)
		}
		// Free again, a takes it back in a new term.
		testutil.WaitFor(t, "a to lead again", a.IsLeader)
		if a.Term() != 2 {
			t.Fatalf("term %d, want 2", a.Term())
		}
	})
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

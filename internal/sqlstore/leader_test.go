package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// leaseEvents lists the audited tenure changes of the lease, as
// "action holder term".
func leaseEvents(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	var out []string
	viewLease(t, db, func(tx *sqlstore.Tx) error {
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{})
		for _, e := range events {
			if e.Subject != shipgate.LeaderSubject(shipgate.LeaderLeaseName) {
				continue
			}
			var d struct {
				Holder string `json:"holder"`
				Term   int64  `json:"term"`
			}
			json.Unmarshal(e.Details, &d)
			out = append(out, fmt.Sprintf("%s %s %d", e.Action, d.Holder, d.Term))
		}
		return err
	})
	return out
}

// testLeaderLease walks one lease through its life: bad requests change
// nothing; a holder keeps it by renewing; another takes it only once it
// expired; the old holder can then neither renew nor resign it; a
// resignation frees it at once; each tenure is audited with its term.
func testLeaderLease(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	const name = shipgate.LeaderLeaseName
	for _, bad := range []struct {
		name, holder string
		ttl          time.Duration
	}{{name, "", time.Minute}, {name, "a b", time.Minute}, {"Not A Name", "a", time.Minute}, {name, "a", 0}, {name, "a", -time.Second}} {
		if _, ok, err := db.AcquireLease(ctx, bad.name, bad.holder, bad.ttl, ""); ok || shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Fatalf("acquire %+v = %v, %v; want invalid", bad, ok, err)
		}
		if _, ok, err := db.RenewLease(ctx, bad.name, bad.holder, 1, bad.ttl); ok || shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Fatalf("renew %+v = %v, %v; want invalid", bad, ok, err)
		}
	}
	if n := verify(t, db); n != 0 {
		t.Fatalf("bad requests wrote %d audit events", n)
	}

	a, ok, err := db.AcquireLease(ctx, name, "server-a", time.Minute, "")
	if err != nil || !ok || a.Holder != "server-a" || a.Term != 1 || !a.ExpiresAt.After(a.AcquiredAt) {
		t.Fatalf("first acquire = %+v, %v, %v", a, ok, err)
	}
	if got, ok, err := db.AcquireLease(ctx, name, "server-b", time.Minute, ""); err != nil || ok || got.Holder != "server-a" || got.Term != 1 {
		t.Fatalf("acquire of a held lease = %+v, %v, %v; want refused, naming server-a", got, ok, err)
	}
	renewed, ok, err := db.RenewLease(ctx, name, "server-a", 1, 2*time.Minute)
	if err != nil || !ok || renewed.Term != 1 || !renewed.ExpiresAt.After(a.ExpiresAt) || !renewed.AcquiredAt.Equal(a.AcquiredAt) {
		t.Fatalf("renew = %+v, %v, %v; want the same tenure, expiring later than %s", renewed, ok, err, a.ExpiresAt)
	}
	for _, r := range []struct {
		holder string
		term   int64
	}{{"server-b", 1}, {"server-a", 2}} {
		if _, ok, err := db.RenewLease(ctx, name, r.holder, r.term, time.Minute); err != nil || ok {
			t.Fatalf("renew by %s in term %d = %v, %v; want refused", r.holder, r.term, ok, err)
		}
	}
	// server-a's last renewal gives it a millisecond: server-b takes over
	// once the database's clock passes it, not before.
	if _, ok, err := db.RenewLease(ctx, name, "server-a", 1, time.Millisecond); err != nil || !ok {
		t.Fatalf("short renew = %v, %v", ok, err)
	}
	var b shipgate.Lease
	testutil.WaitFor(t, "server-b to take the expired lease", func() bool {
		var err error
		b, ok, err = db.AcquireLease(ctx, name, "server-b", time.Minute, "")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if b.Holder != "server-b" || b.Term != 2 {
		t.Fatalf("takeover = %+v; want server-b in term 2", b)
	}
	if _, ok, err := db.RenewLease(ctx, name, "server-a", 1, time.Minute); err != nil || ok {
		t.Fatalf("renew by the old holder after a takeover = %v, %v; want refused", ok, err)
	}
	if ok, err := db.ResignLease(ctx, name, "server-a", 1); err != nil || ok {
		t.Fatalf("resign by the old holder = %v, %v; want nothing resigned", ok, err)
	}
	if ok, err := db.ResignLease(ctx, name, "server-b", 2); err != nil || !ok {
		t.Fatalf("resign = %v, %v", ok, err)
	}
	if ok, err := db.ResignLease(ctx, name, "server-b", 2); err != nil || ok {
		t.Fatalf("second resign = %v, %v; want nothing resigned", ok, err)
	}
	// Resigned, the lease is free at once: no wait for its expiry.
	if got, ok, err := db.AcquireLease(ctx, name, "server-a", time.Minute, ""); err != nil || !ok || got.Term != 3 {
		t.Fatalf("acquire after resignation = %+v, %v, %v; want server-a in term 3", got, ok, err)
	}
	viewLease(t, db, func(tx *sqlstore.Tx) error {
		l, err := tx.Lease(ctx, name)
		if err != nil || l.Holder != "server-a" || l.Term != 3 {
			t.Fatalf("lease = %+v, %v", l, err)
		}
		if _, err := tx.Lease(ctx, "other"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Fatalf("absent lease: %v; want not found", err)
		}
		return nil
	})
	want := []string{"leader.acquired server-a 1", "leader.acquired server-b 2", "leader.resigned server-b 2", "leader.acquired server-a 3"}
	if got := leaseEvents(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lease audit = %q, want %q", got, want)
	}
	verify(t, db)
}

// testLeaderLeaseOneHolder races many servers for a free lease and then
// for an expired one: each time exactly one of them gets it.
func testLeaderLeaseOneHolder(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	const name, racers = shipgate.LeaderLeaseName, 12
	race := func(round int, ttl time.Duration) []shipgate.Lease {
		var mu sync.Mutex
		var won []shipgate.Lease
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				l, ok, err := db.AcquireLease(ctx, name, fmt.Sprintf("server-%d-%d", round, i), ttl, "")
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					won = append(won, l)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(won) > 1 {
			t.Fatalf("round %d: %d servers hold the lease at once: %+v", round, len(won), won)
		}
		return won
	}
	first := race(0, time.Minute)
	if len(first) != 1 || first[0].Term != 1 {
		t.Fatalf("race for a free lease: %+v; want one winner in term 1", first)
	}
	// The winner's last renewal lets the lease expire at once; the next
	// rounds race for it until the database's clock has passed it.
	if _, ok, err := db.RenewLease(ctx, name, first[0].Holder, 1, time.Millisecond); err != nil || !ok {
		t.Fatalf("short renew = %v, %v", ok, err)
	}
	round := 0
	testutil.WaitFor(t, "a race for the expired lease to have a winner", func() bool {
		round++
		won := race(round, time.Minute)
		if len(won) == 1 && won[0].Term != 2 {
			t.Fatalf("takeover in term %d, want 2", won[0].Term)
		}
		return len(won) == 1
	})
	if n := len(leaseEvents(t, db)); n != 2 {
		t.Fatalf("%d tenures audited, want 2", n)
	}
	verify(t, db)
}

func viewLease(t *testing.T, db *sqlstore.DB, fn func(tx *sqlstore.Tx) error) {
	t.Helper()
	if err := db.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// testLeaderLeasePredecessor: a server restarted on the same --data after
// a crash names its previous run, known dead, and takes that lease back
// at once; naming anyone else takes nothing.
func testLeaderLeasePredecessor(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	const name = shipgate.LeaderLeaseName
	if _, ok, err := db.AcquireLease(ctx, name, "run-1", time.Hour, ""); err != nil || !ok {
		t.Fatalf("acquire = %v, %v", ok, err)
	}
	if l, ok, err := db.AcquireLease(ctx, name, "run-2", time.Hour, "someone-else"); err != nil || ok || l.Holder != "run-1" {
		t.Fatalf("take over naming another predecessor = %+v, %v, %v; want refused", l, ok, err)
	}
	l, ok, err := db.AcquireLease(ctx, name, "run-2", time.Hour, "run-1")
	if err != nil || !ok || l.Holder != "run-2" || l.Term != 2 {
		t.Fatalf("take over from the dead predecessor = %+v, %v, %v; want run-2 in term 2", l, ok, err)
	}
	if _, ok, err := db.AcquireLease(ctx, name, "run-3", time.Hour, "run-1"); err != nil || ok {
		t.Fatalf("take over naming a predecessor that no longer holds it = %v, %v; want refused", ok, err)
	}
	var restarted any
	viewLease(t, db, func(tx *sqlstore.Tx) error {
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{})
		for _, e := range events {
			var d map[string]any
			json.Unmarshal(e.Details, &d)
			if e.Action == shipgate.ActionLeaderAcquired && d["holder"] == "run-2" {
				restarted = d["previous_holder_restarted"]
			}
		}
		return err
	})
	if restarted != true {
		t.Fatalf("the takeover's audit event says previous_holder_restarted = %v", restarted)
	}
	verify(t, db)
}

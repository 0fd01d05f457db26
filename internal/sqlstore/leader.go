package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
)

// Leader leases (internal/leader runs the election). Every time a lease
// is written or judged comes from the database's clock, in the statement
// that uses it: servers never compare their own clocks with each other's.
// A holder only needs its own clock to run at the database's rate, to
// stop its work before the expiry the database wrote (see the package
// doc of internal/leader).

// clockMicros is the database's current time in unix microseconds.
func (d dialect) clockMicros() string {
	if d.name == "postgres" {
		return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
}

const leaseColumns = "name, holder, term, acquired_at, expires_at"

func scanLease(row interface{ Scan(...any) error }) (shipgate.Lease, error) {
	var l shipgate.Lease
	var acquired, expires int64
	if err := row.Scan(&l.Name, &l.Holder, &l.Term, &acquired, &expires); err != nil {
		return l, err
	}
	l.AcquiredAt, l.ExpiresAt = fromMicros(acquired), fromMicros(expires)
	return l, nil
}

// Lease reads the lease named name; ENOTFOUND when no server ever took it.
func (tx *Tx) Lease(ctx context.Context, name string) (shipgate.Lease, error) {
	l, err := scanLease(tx.queryRow(ctx, `SELECT `+leaseColumns+` FROM leader_leases WHERE name = ?`, name))
	return l, notFound(err, "no lease %q", name)
}

// AcquireLease makes holder the holder of the lease named name for ttl,
// when nobody holds it, its holder let it expire or resigned, or holder
// itself held it: a new tenure, with the term one higher, audited as
// leader.acquired. One statement decides, so of many servers trying at
// once exactly one gets it. ok is false when another server holds the
// lease; the lease returned is then theirs (the zero Lease if absent).
//
// predecessor, if not empty, is a holder the caller knows to be dead
// (this server's previous run on the same --data, whose lock the caller
// now holds): its lease is taken over at once instead of after its TTL.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, predecessor string) (lease shipgate.Lease, ok bool, err error) {
	if err := shipgate.ValidateLeaseRequest(name, holder, ttl); err != nil {
		return lease, false, err
	}
	clock := db.dialect.clockMicros()
	err = db.Update(ctx, func(tx *Tx) error {
		prev, err := tx.Lease(ctx, name)
		found := err == nil
		if err != nil && shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			return err
		}
		lease, err = scanLease(tx.queryRow(ctx, fmt.Sprintf(`INSERT INTO leader_leases (`+leaseColumns+`)
			VALUES (?, ?, 1, %[1]s, %[1]s + ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, term = leader_leases.term + 1,
				acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
			WHERE leader_leases.expires_at <= excluded.acquired_at OR leader_leases.holder = excluded.holder
				OR (leader_leases.holder = ? AND ? <> '')
			RETURNING `+leaseColumns, clock), name, holder, ttl.Microseconds(), predecessor, predecessor))
		if errors.Is(err, sql.ErrNoRows) {
			lease, ok = prev, false // held by another server
			return nil
		}
		if err != nil {
			return fmt.Errorf("acquire lease %q: %w", name, err)
		}
		ok = true
		details := map[string]any{"holder": holder, "term": lease.Term, "expires_at": lease.ExpiresAt.Format(time.RFC3339Nano)}
		if found {
			details["previous_holder"] = prev.Holder
			if prev.Holder == predecessor && prev.ExpiresAt.After(lease.AcquiredAt) {
				details["previous_holder_restarted"] = true // taken before its expiry: the caller knows it dead
			}
		}
		return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionLeaderAcquired, shipgate.LeaderSubject(name), details))
	})
	if err != nil {
		return shipgate.Lease{}, false, err
	}
	return lease, ok, nil
}

// RenewLease extends the lease to ttl from the database's now, only if
// holder still holds it in term and it has not expired: a compare-and-set
// in one statement. ok false means the tenure is over (the lease expired,
// was taken or resigned): the holder must stop its leader-only work.
// Renewals are not audited and do not wait for the audit chain's lock, so
// busy writers do not delay them.
func (db *DB) RenewLease(ctx context.Context, name, holder string, term int64, ttl time.Duration) (lease shipgate.Lease, ok bool, err error) {
	if err := shipgate.ValidateLeaseRequest(name, holder, ttl); err != nil {
		return lease, false, err
	}
	clock := db.dialect.clockMicros()
	lease, err = scanLease(db.write.QueryRowContext(ctx, db.dialect.rebind(fmt.Sprintf(`UPDATE leader_leases SET expires_at = %[1]s + ?
		WHERE name = ? AND holder = ? AND term = ? AND expires_at > %[1]s
		RETURNING `+leaseColumns, clock)), ttl.Microseconds(), name, holder, term))
	if errors.Is(err, sql.ErrNoRows) {
		return shipgate.Lease{}, false, nil
	}
	if err != nil {
		return shipgate.Lease{}, false, fmt.Errorf("renew lease %q: %w", name, err)
	}
	return lease, true, nil
}

// ResignLease ends holder's tenure term at once, so another server takes
// the lease on its next attempt instead of waiting for it to expire;
// audited as leader.resigned. ok is false (and nothing is written) when
// holder no longer held it.
func (db *DB) ResignLease(ctx context.Context, name, holder string, term int64) (ok bool, err error) {
	if err := shipgate.ValidateLeaseRequest(name, holder, time.Millisecond); err != nil {
		return false, err
	}
	clock := db.dialect.clockMicros()
	err = db.Update(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, fmt.Sprintf(`UPDATE leader_leases SET expires_at = %[1]s
			WHERE name = ? AND holder = ? AND term = ? AND expires_at > %[1]s`, clock), name, holder, term)
		if err != nil {
			return fmt.Errorf("resign lease %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		ok = true
		return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionLeaderResigned, shipgate.LeaderSubject(name),
			map[string]any{"holder": holder, "term": term}))
	})
	return ok, err
}

// LiveHolder returns the holder of the lease named name while it is held
// (not expired, by the database's clock), "" when nobody holds it: some
// server of the database is running.
func (db *DB) LiveHolder(ctx context.Context, name string) (string, error) {
	var holder string
	err := db.View(ctx, func(tx *Tx) error {
		err := tx.queryRow(ctx, `SELECT holder FROM leader_leases WHERE name = ? AND expires_at > `+db.dialect.clockMicros(), name).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return holder, err
}

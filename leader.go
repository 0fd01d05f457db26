package shipgate

import (
	"time"
	"unicode"
)

// Leader lease: when several servers share one PostgreSQL database, only
// the holder of the lease runs the background work that changes state on
// its own (the reconciler loop, notification delivery, audit
// checkpoints). The API and agents' claims are served by every server.

// LeaderLeaseName is the lease the servers of one database compete for.
const LeaderLeaseName = "shipgate"

// Audit actions of the leader lease. Renewals are not audited (they
// change nothing but the expiry); a new tenure and a resignation are.
const (
	ActionLeaderAcquired = "leader.acquired"
	ActionLeaderResigned = "leader.resigned"
	// ActionSharedKeyReplaced records that a server made its secret key
	// the database's after the old one was lost (serve --new-secret-key).
	ActionSharedKeyReplaced = "key.replaced"
)

// Lease is one leader lease as the database holds it. Times are the
// database's clock, never a server's: servers judge expiry on one clock.
type Lease struct {
	Name   string `json:"name"`
	Holder string `json:"holder"`
	// Term counts tenures: it goes up by one every time the lease is
	// taken (by another server, or again by the same after it lapsed or
	// was resigned), never on a renewal, so a term names one tenure.
	Term       int64     `json:"term"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// ValidateLeaseRequest checks the name, holder and time to live of a
// lease request before it reaches the database.
func ValidateLeaseRequest(name, holder string, ttl time.Duration) error {
	if err := ValidateName("lease", name); err != nil {
		return err
	}
	if holder == "" || len(holder) > 200 {
		return Errorf(EINVALID, "lease holder must be 1-200 characters, got %d", len(holder))
	}
	for _, r := range holder {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return Errorf(EINVALID, "lease holder %q must be printable characters without spaces", holder)
		}
	}
	if ttl < time.Millisecond {
		return Errorf(EINVALID, "lease time to live must be at least 1ms, got %s", ttl)
	}
	return nil
}

package checkpoint

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/durable"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// DefaultEvery is how often the head is signed while it moves.
const DefaultEvery = time.Minute

// LoadKey returns the audit signing key: from env (the value of
// SHIPGATE_AUDIT_KEY, 64 hex digits) if set, else from the file at path,
// which is created with a fresh key, readable by its owner only, if it
// does not exist. A key file others may read is refused.
func LoadKey(env, path string) (*shipgate.AuditSigner, error) {
	seed, err := durable.HexKey("audit signing key", "SHIPGATE_AUDIT_KEY", env, path, shipgate.AuditSigningKeySize)
	if err != nil {
		return nil, err
	}
	return shipgate.NewAuditSigner(seed)
}

// ReadKeyFile reads an existing audit signing key file (64 hex digits).
// A key file others may read is refused.
func ReadKeyFile(path string) (*shipgate.AuditSigner, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("read audit signing key: %w", err)
	}
	return LoadKey("", path)
}

// Signer signs the audit head in the background.
type Signer struct {
	DB     *sqlstore.DB
	Key    *shipgate.AuditSigner
	Logger *slog.Logger
	// Every is how often the head is signed while it moves (DefaultEvery
	// when zero).
	Every time.Duration

	lastSeq int64
	logged  bool
}

// RunOnce signs the head if it moved since the last checkpoint and
// returns the current checkpoint. A checkpoint someone asked for through
// the API is stored but not published; when the head has not moved since
// such a one, RunOnce publishes it, so every head the log reaches goes out
// within the interval.
func (s *Signer) RunOnce(ctx context.Context) (shipgate.AuditCheckpoint, error) {
	cp, created, err := s.DB.Checkpoint(ctx, s.Key)
	if err != nil {
		return cp, err
	}
	if !created {
		// Signed earlier, on demand or before a restart: sent to every
		// sink that the outbox says has not had it.
		if err := s.DB.PublishCheckpoint(ctx, cp); err != nil {
			return cp, err
		}
	}
	if !s.logged || cp.Seq != s.lastSeq {
		// The log is one more copy outside the database.
		s.Logger.Info("audit checkpoint", "seq", cp.Seq, "hash", cp.Hash, "at", cp.At.Format(time.RFC3339Nano), "key_id", cp.KeyID, "signature", cp.Signature)
		s.lastSeq, s.logged = cp.Seq, true
	}
	return cp, nil
}

// Run signs at start, every Every while the head moves, and once more when
// ctx ends, so the last events before a shutdown are covered.
func (s *Signer) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = DefaultEvery
	}
	s.WarnOtherKey(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("audit checkpoint not signed", "err", err)
		}
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := s.RunOnce(final); err != nil {
				s.Logger.Error("final audit checkpoint not signed", "err", err)
			}
			return
		case <-t.C:
		}
	}
}

// WarnOtherKey warns when the newest checkpoint was signed by another
// key: servers sharing a database must share the key, and after a
// rotation verifiers need both public keys.
func (s *Signer) WarnOtherKey(ctx context.Context) {
	newest, err := OtherKey(ctx, s.DB, s.Key)
	if err == nil && newest != nil {
		s.Logger.Warn("the newest audit checkpoint was signed by another key: servers sharing a database must share SHIPGATE_AUDIT_KEY; after a key change, verify with both public keys",
			"newest_key_id", newest.KeyID, "this_key_id", s.Key.PublicKey().ID(), "seq", newest.Seq)
	}
}

// OtherKey returns the newest checkpoint when another key than key signed
// it, nil otherwise.
func OtherKey(ctx context.Context, db *sqlstore.DB, key *shipgate.AuditSigner) (*shipgate.AuditCheckpoint, error) {
	var newest shipgate.AuditCheckpoint
	var found bool
	err := db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		newest, found, err = tx.NewestCheckpoint(ctx)
		return err
	})
	if err != nil || !found || newest.KeyID == key.PublicKey().ID() {
		return nil, err
	}
	return &newest, nil
}

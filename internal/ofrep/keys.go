package ofrep

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shipgate/shipgate"
)

// Key is a live SDK key as authentication needs it.
type Key struct {
	ID          int64
	Environment string
	Prefix      string // shipgate.SDKKeyDisplayPrefix of the secret
	Hash        string // shipgate.HashToken of the secret
}

// KeyLoader reads the live SDK keys and records their use.
type KeyLoader interface {
	ActiveKeys(ctx context.Context) ([]Key, error)
	TouchKey(ctx context.Context, id int64, at time.Time) error
}

// Keys is an Authenticator that keeps the live keys in memory. It reloads
// them at once when Changed moves (a key created or revoked in this
// process), when they are older than MaxAge (one changed by another
// server), and, at most every MissReload, when a key is not found (a key
// just created elsewhere works at once). A key's last use is recorded at
// most every TouchEvery.
type Keys struct {
	Loader  KeyLoader
	Changed func() uint64
	// MaxAge bounds how long a revocation made by another server takes
	// to be honoured here; 0 is one second.
	MaxAge time.Duration
	// MissReload bounds reloads caused by unknown keys; 0 is 100 ms.
	MissReload time.Duration
	// TouchEvery bounds writes of last_used_at; 0 is one minute.
	TouchEvery time.Duration
	Now        func() time.Time
	Logger     *slog.Logger

	mu      sync.Mutex
	set     atomic.Pointer[keySet]
	touched sync.Map // key id → time.Time of the last write
}

type keySet struct {
	byPrefix map[string][]Key
	epoch    uint64
	loaded   time.Time
}

func (k *Keys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (k *Keys) epoch() uint64 {
	if k.Changed != nil {
		return k.Changed()
	}
	return 0
}

var errBadKey = shipgate.Errorf(shipgate.EUNAUTHORIZED, "missing, unknown or revoked SDK key")

// Authenticate returns the environment of the key secret.
func (k *Keys) Authenticate(ctx context.Context, secret string) (string, error) {
	if !strings.HasPrefix(secret, shipgate.SDKKeyPrefix) || len(secret) > 200 {
		return "", errBadKey
	}
	hash, prefix := shipgate.HashToken(secret), shipgate.SDKKeyDisplayPrefix(secret)
	epoch, now := k.epoch(), k.now()
	set := k.set.Load()
	if set == nil || set.epoch != epoch || now.Sub(set.loaded) >= orDefault(k.MaxAge, time.Second) {
		var err error
		if set, err = k.reload(ctx, set, epoch, now, false); err != nil {
			return "", err
		}
	}
	key, ok := set.find(prefix, hash)
	if !ok && now.Sub(set.loaded) >= orDefault(k.MissReload, 100*time.Millisecond) {
		var err error
		if set, err = k.reload(ctx, set, epoch, now, true); err != nil {
			return "", err
		}
		key, ok = set.find(prefix, hash)
	}
	if !ok {
		return "", errBadKey
	}
	k.touch(ctx, key.ID, now)
	return key.Environment, nil
}

// find compares hashes in constant time: the prefix that picks the
// candidates is not secret, the rest of the key is.
func (s *keySet) find(prefix, hash string) (Key, bool) {
	found, at := 0, -1
	cands := s.byPrefix[prefix]
	for i := range cands {
		if subtle.ConstantTimeCompare([]byte(cands[i].Hash), []byte(hash)) == 1 {
			found, at = 1, i
		}
	}
	if found == 0 {
		return Key{}, false
	}
	return cands[at], true
}

func (k *Keys) reload(ctx context.Context, seen *keySet, epoch uint64, now time.Time, miss bool) (*keySet, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur := k.set.Load(); cur != seen && cur != nil && cur.epoch == epoch && (miss || now.Sub(cur.loaded) < orDefault(k.MaxAge, time.Second)) {
		return cur, nil // another caller reloaded meanwhile
	}
	keys, err := k.Loader.ActiveKeys(ctx)
	if err != nil {
		return nil, err
	}
	set := &keySet{byPrefix: make(map[string][]Key, len(keys)), epoch: epoch, loaded: now}
	for _, key := range keys {
		set.byPrefix[key.Prefix] = append(set.byPrefix[key.Prefix], key)
	}
	k.set.Store(set)
	return set, nil
}

func (k *Keys) touch(ctx context.Context, id int64, now time.Time) {
	if last, ok := k.touched.Load(id); ok && now.Sub(last.(time.Time)) < orDefault(k.TouchEvery, time.Minute) {
		return
	}
	k.touched.Store(id, now)
	if err := k.Loader.TouchKey(ctx, id, now); err != nil && k.Logger != nil {
		k.Logger.Warn("record the use of an SDK key", "id", id, "err", err)
	}
}

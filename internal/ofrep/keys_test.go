package ofrep_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/ofrep"
)

type keyStore struct {
	mu      sync.Mutex
	keys    []ofrep.Key
	loads   int
	touches []int64
}

func (s *keyStore) ActiveKeys(context.Context) ([]ofrep.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	return append([]ofrep.Key(nil), s.keys...), nil
}

func (s *keyStore) TouchKey(_ context.Context, id int64, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touches = append(s.touches, id)
	return nil
}

func key(id int64, env, secret string) ofrep.Key {
	return ofrep.Key{ID: id, Environment: env, Prefix: shipgate.SDKKeyDisplayPrefix(secret), Hash: shipgate.HashToken(secret)}
}

func TestKeys(t *testing.T) {
	prod, staging, later := shipgate.NewSDKKeySecret(), shipgate.NewSDKKeySecret(), shipgate.NewSDKKeySecret()
	st := &keyStore{keys: []ofrep.Key{key(1, "prod", prod), key(2, "staging", staging)}}
	now := time.Unix(1000, 0)
	var epoch uint64
	k := &ofrep.Keys{Loader: st, Now: func() time.Time { return now }, Changed: func() uint64 { return epoch }}
	ctx := context.Background()
	auth := func(secret string) string {
		t.Helper()
		env, err := k.Authenticate(ctx, secret)
		if err != nil {
			if shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
				t.Fatalf("error %v is not unauthorized", err)
			}
			return "401"
		}
		return env
	}
	if auth(prod) != "prod" || auth(staging) != "staging" || st.loads != 1 {
		t.Fatalf("loads %d", st.loads)
	}
	// The last character changed (to one it is not: the secret is random).
	other := "a"
	if prod[len(prod)-1] == 'a' {
		other = "b"
	}
	for _, bad := range []string{"", "sgp_" + prod[4:], prod + "x", prod[:len(prod)-1] + other, "sgf_"} {
		if got := auth(bad); got != "401" {
			t.Errorf("%q authenticated as %s", bad, got)
		}
	}
	// A key made elsewhere works at once; unknown keys reload at most
	// every MissReload.
	loads := st.loads
	st.keys = append(st.keys, key(3, "prod", later))
	if auth(later) != "401" || st.loads != loads {
		t.Fatalf("reloaded within MissReload (loads %d)", st.loads)
	}
	now = now.Add(100 * time.Millisecond)
	if auth(later) != "prod" || st.loads != loads+1 {
		t.Fatalf("new key not found after MissReload (loads %d)", st.loads)
	}
	// A local revocation is honoured at once (the epoch moved) ...
	st.keys = st.keys[1:]
	epoch++
	if auth(prod) != "401" {
		t.Fatal("revoked key still works after the epoch moved")
	}
	// ... another server's within MaxAge.
	st.keys = st.keys[1:]
	if auth(staging) != "staging" {
		t.Fatal("cached key refused")
	}
	now = now.Add(time.Second)
	if auth(staging) != "401" {
		t.Fatal("revoked key still works after MaxAge")
	}
	// Use is recorded once a minute per key.
	touches := len(st.touches)
	auth(later)
	auth(later)
	now = now.Add(time.Minute)
	auth(later)
	if got := st.touches[touches:]; len(got) != 1 || got[0] != 3 {
		t.Fatalf("touches %v", got)
	}
}

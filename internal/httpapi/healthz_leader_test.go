package httpapi_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
)

// TestHealthzSaysLeader: /healthz tells load balancers and operators
// whether this server holds the leader lease, as it changes.
func TestHealthzSaysLeader(t *testing.T) {
	f := newFixture(t)
	health := func() map[string]any {
		t.Helper()
		resp, err := http.Get(f.srv.URL + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(resp, err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := health(); v["status"] != "ok" || v["leader"] != nil {
		t.Fatalf("without an election: %v", v)
	}
	var leads atomic.Bool
	f.h.IsLeader = leads.Load
	if v := health(); v["leader"] != false {
		t.Fatalf("follower: %v", v)
	}
	leads.Store(true)
	if v := health(); v["leader"] != true {
		t.Fatalf("leader: %v", v)
	}
}

package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// TestLeaderTTLValidated: a --leader-ttl that cannot work is refused with
// the reason, before anything is created.
func TestLeaderTTLValidated(t *testing.T) {
	for _, tc := range []struct{ ttl, want string }{
		{"100ms", "--leader-ttl must be at least 1s, got 100ms"},
		{"0s", "--leader-ttl must be at least 1s, got 0s"},
		{"-5s", "--leader-ttl must be at least 1s, got -5s"},
		{"11m", "--leader-ttl must be at most 10m0s, got 11m0s"},
		{"soon", `invalid argument "soon" for "--leader-ttl" flag`},
	} {
		data := filepath.Join(t.TempDir(), "data")
		code, _, errOut := runMain(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", data, "--leader-ttl", tc.ttl)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("--leader-ttl %s: exit %d, stderr %q; want %q", tc.ttl, code, errOut, tc.want)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("--leader-ttl %s: the refused start created %s", tc.ttl, data)
		}
	}
}

// healthLeader asks a server's /healthz (directly, not through the
// checking proxy) whether it leads; ok is false when it cannot be asked.
func healthLeader(url string) (leads, ok bool) {
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return false, false
	}
	defer resp.Body.Close()
	var v struct {
		Leader *bool `json:"leader"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&v) != nil || v.Leader == nil {
		return false, false
	}
	return *v.Leader, true
}

// TestSQLiteServerLeads: alone on its SQLite database, a server always
// leads, and says so.
func TestSQLiteServerLeads(t *testing.T) {
	s := startServer(t)
	testutil.WaitFor(t, "the SQLite server to say it leads", func() bool {
		leads, _ := healthLeader(s.direct)
		return leads
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if !strings.Contains(s.stderr.String(), "always leader") {
		t.Fatalf("the log does not say the server leads alone:\n%s", s.stderr.String())
	}
}

package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every address serve listens on is bound before the store is opened: a
// busy --metrics-listen or --pprof address stopped a first start only
// after it had printed a bootstrap token, and the next start printed none
// (the store already had its admin, with a token nobody could use).
func TestServeBindsEveryListenerBeforeBootstrap(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct{ flag, want string }{
		{"--metrics-listen", "--metrics-listen"},
		{"--pprof", "--pprof"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			r := runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", data, tc.flag, busy.Addr().String())
			if r.code == 0 || !strings.Contains(r.stderr, "address already in use") || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want the bind error of %s", r.code, r.stderr, tc.flag)
			}
			if strings.Contains(r.stdout, "bootstrap admin token") {
				t.Fatalf("printed a token before failing:\n%s", r.stdout)
			}
			if _, err := os.Stat(filepath.Join(data, "shipgate.db")); !os.IsNotExist(err) {
				t.Fatalf("the store was created: %v", err)
			}
		})
	}
}

// The listeners bound early are the ones served: metrics and profiler
// answer on their addresses.
func TestServeServesEarlyBoundListeners(t *testing.T) {
	metrics, pprof := freeAddr(t), freeAddr(t)
	startServerWith(t, []string{"--metrics-listen", metrics, "--pprof", pprof})
	for _, u := range []string{"http://" + metrics + "/metrics", "http://" + metrics + "/healthz", "http://" + pprof + "/debug/pprof/"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", u, resp.Status)
		}
	}
}

package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/testutil"
)

// recConn is a server-side connection that records the read deadlines
// the server sets on it and whether the server closed it.
type recConn struct {
	net.Conn
	mu     sync.Mutex
	reads  []time.Time
	closed bool
}

func (c *recConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.reads = append(c.reads, t)
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *recConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.reads = append(c.reads, t)
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *recConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *recConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// lifted reports whether a read deadline later than after was set and
// then lifted, and nothing set since.
func (c *recConn) lifted(after time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, d := range c.reads {
		if d.After(after) {
			rest := c.reads[i+1:]
			return len(rest) > 0 && rest[len(rest)-1].IsZero()
		}
	}
	return false
}

type recListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*recConn
}

func (l *recListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, rc)
	l.mu.Unlock()
	return rc, nil
}

func (l *recListener) all() []*recConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*recConn(nil), l.conns...)
}

// recordedServer serves the fixture's handler on a listener that records
// its connections, with the read timeout serve gives its server.
func recordedServer(t *testing.T, f *fixture, readTimeout time.Duration) (*httptest.Server, *recListener) {
	srv := httptest.NewUnstartedServer(f.h)
	srv.Config.ReadTimeout = readTimeout
	rl := &recListener{Listener: srv.Listener}
	srv.Listener = rl
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, rl
}

// A client sending its body a byte at a time is answered and disconnected
// once the server's read timeout passes, whether it sent a token or not
// (a refused request's body is drained under the same deadline).
func TestSlowRequestBodyIsCutOff(t *testing.T) {
	f := newFixture(t)
	srv, _ := recordedServer(t, f, 100*time.Millisecond)
	for _, tc := range []struct {
		name, token string
		status      int
		message     string
	}{
		{"anonymous", "", 401, "missing token"},
		{"authenticated", f.tokens["carol"], 400, "the request body did not arrive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := "POST /api/v1/releases HTTP/1.1\r\nHost: shipgate\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"
			if tc.token != "" {
				head += "Authorization: Bearer " + tc.token + "\r\n"
			}
			if _, err := io.WriteString(conn, head+"\r\n{"); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := io.WriteString(conn, " "); err != nil {
							return
						}
					}
				}
			}()
			conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // only so a failure ends
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a trickling body: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.message) {
				t.Fatalf("answer %d %s", resp.StatusCode, body)
			}
			if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the connection is still open after the answer: %v", err)
			}
		})
	}
}

// A claim long-polls after reading its body: the read deadline is lifted
// then, so a claim that waits longer than the read timeout is not cut off.
func TestClaimWaitsWithoutReadDeadline(t *testing.T) {
	f, token, _ := agentFixture(t)
	srv, rl := recordedServer(t, f, time.Hour)
	reg, err := register(t, f, token, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	agent := client.NewAgent(srv.URL, reg.Secret)
	if _, ok, err := agent.Claim(ctx, shipgate.ClaimRequest{ClaimID: "first", Wait: time.Second}); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	// Nothing more is queued: the next claim waits, until the test ends it.
	waiting := time.Now()
	claimCtx, endClaim := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		agent.Claim(claimCtx, shipgate.ClaimRequest{ClaimID: "second", Wait: time.Minute})
	}()
	// The claim's connection had the hour-long body deadline, and it is
	// lifted while the claim still waits (the claim ends only below).
	testutil.WaitFor(t, "the waiting claim's body deadline to be lifted", func() bool {
		for _, c := range rl.all() {
			if c.lifted(waiting.Add(time.Hour)) {
				return true
			}
		}
		return false
	})
	endClaim()
	<-done
}

// A client that stops reading a large response is disconnected once a
// write has been stuck for the write timeout.
func TestStalledReaderIsCutOff(t *testing.T) {
	f := newFixture(t)
	f.h.WriteTimeout = 100 * time.Millisecond
	srv, rl := recordedServer(t, f, 0)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(strings.Replace(agentService, "ROLE", "web", 1))); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "big.tar")
	if err := os.WriteFile(art, make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art}); err != nil {
		t.Fatal(err)
	}
	reg, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	asg, ok, err := client.NewAgent(f.srv.URL, reg.Secret).Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: time.Second})
	if !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /api/v1/agent/artifact?release=%d&run=%d&job=%s&attempt=%d HTTP/1.1\r\nHost: shipgate\r\nAuthorization: Bearer %s\r\n\r\n",
		asg.Key.ReleaseID, asg.Key.Run, asg.Key.Job, asg.Key.Attempt, reg.Secret)
	// The test never reads: the server's writes stall once the buffers
	// are full, and it must give up on the connection.
	testutil.WaitFor(t, "the server to drop a client that does not read", func() bool {
		for _, c := range rl.all() {
			if c.isClosed() {
				return true
			}
		}
		return false
	})
}

// Behind a trusted proxy the client's address comes from X-Forwarded-For,
// read from the right; from anyone else the header is ignored.
func TestTrustedProxyNamesTheClient(t *testing.T) {
	f := newFixture(t)
	remote := func(xff string) string {
		t.Helper()
		// A new refusal window, so this refusal is written at once rather
		// than counted into an earlier one of the same caller.
		if err := f.h.FlushRefusals(ctx); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/releases", nil)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ev := f.lastEvent(t)
		if ev.Action != shipgate.ActionAccessDenied {
			t.Fatalf("last event %+v", ev)
		}
		var d struct{ Remote string }
		if err := json.Unmarshal(ev.Details, &d); err != nil {
			t.Fatal(err)
		}
		return d.Remote
	}
	spoofed := "198.51.100.7, 203.0.113.9, 10.0.0.1"
	if got := remote(spoofed); got != "127.0.0.1" {
		t.Fatalf("no trusted proxies: remote %s", got)
	}
	f.h.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if got := remote(spoofed); got != "127.0.0.1" {
		t.Fatalf("the peer is not a trusted proxy: remote %s", got)
	}
	f.h.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	if got := remote(spoofed); got != "203.0.113.9" {
		t.Fatalf("through two trusted proxies: remote %s", got)
	}
	if got := remote("not an address"); got != "127.0.0.1" {
		t.Fatalf("garbled header: remote %s", got)
	}
}

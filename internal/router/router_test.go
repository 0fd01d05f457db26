package router

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/shipgate/shipgate"
)

// newBackend starts an instance answering with its version, or with h.
func newBackend(t testing.TB, id, version string, h http.HandlerFunc) Backend {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, version) }
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return Backend{ID: id, Version: version, Addr: srv.Listener.Addr().String()}
}

// newRouter returns a Router serving service "web" on a loopback port.
func newRouter(t testing.TB) (*Router, string) {
	t.Helper()
	r := New(nil)
	t.Cleanup(func() { r.Close() })
	if err := r.Serve("web", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return r, "http://" + r.Addr("web")
}

var testClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// get does a request and returns its status, served version and body. It
// reports failures with Error, so it is safe in any goroutine.
func get(t testing.TB, url string, mod func(*http.Request)) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	if mod != nil {
		mod(req)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return resp.StatusCode, resp.Header.Get("X-Shipgate-Version"), string(body)
}

func TestWeightedSplit(t *testing.T) {
	r, url := newRouter(t)
	stable := newBackend(t, "s1", "v1", nil)
	canary := newBackend(t, "c1", "v2", nil)
	r.Set("web", Table{Stable: &stable, Canary: &canary, Weight: 25})

	const n, workers = 4000, 8
	var mu sync.Mutex
	served := map[string]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range n / workers {
				code, v, body := get(t, url, nil)
				if code != 200 || v != body {
					t.Errorf("got %d %q %q", code, v, body)
					return
				}
				mu.Lock()
				served[v]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Binomial(4000, 0.25): mean 1000, sd 27.4; ±5 sd fails once in ~2M runs.
	if c := served["v2"]; c < 863 || c > 1137 {
		t.Errorf("canary served %d of %d at weight 25, want 1000±137", c, n)
	}
	if s, c := r.Counters("s1"), r.Counters("c1"); s.Requests+c.Requests != n || int(c.Requests) != served["v2"] {
		t.Errorf("counters: stable %d canary %d, served %v", s.Requests, c.Requests, served)
	}
}

func TestPins(t *testing.T) {
	r, url := newRouter(t)
	stable := newBackend(t, "s1", "v1", nil)
	canary := newBackend(t, "c1", "v2", nil)
	r.Set("web", Table{Stable: &stable, Canary: &canary, Weight: 0})
	tests := []struct {
		name string
		mod  func(*http.Request)
		want string
	}{
		{"none", nil, "v1"},
		{"header canary", func(q *http.Request) { q.Header.Set("X-Shipgate-Version", "canary") }, "v2"},
		{"header version", func(q *http.Request) { q.Header.Set("X-Shipgate-Version", "v2") }, "v2"},
		{"header unknown", func(q *http.Request) { q.Header.Set("X-Shipgate-Version", "v9") }, "v1"},
		{"cookie canary", func(q *http.Request) {
			q.AddCookie(&http.Cookie{Name: "session", Value: "x"})
			q.AddCookie(&http.Cookie{Name: "shipgate-version", Value: "canary"})
		}, "v2"},
		{"cookie version", func(q *http.Request) { q.AddCookie(&http.Cookie{Name: "shipgate-version", Value: "v2"}) }, "v2"},
		{"header beats cookie", func(q *http.Request) {
			q.Header.Set("X-Shipgate-Version", "stable")
			q.AddCookie(&http.Cookie{Name: "shipgate-version", Value: "canary"})
		}, "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				if _, v, _ := get(t, url, tt.mod); v != tt.want {
					t.Fatalf("served %q, want %q", v, tt.want)
				}
			}
		})
	}
	r.Set("web", Table{Stable: &stable, Canary: &canary, Weight: 100})
	for range 20 {
		if _, v, _ := get(t, url, func(q *http.Request) { q.Header.Set("X-Shipgate-Version", "stable") }); v != "v1" {
			t.Fatalf("stable pin at weight 100 served %q", v)
		}
	}
	// Every request the canary served above was pinned: none of them is
	// in the counters the judges compare.
	if c := r.Counters("c1"); c.Requests != 0 {
		t.Errorf("%d pinned requests counted for the canary", c.Requests)
	}
}

func TestWeightChangeAppliesToNextRequest(t *testing.T) {
	r, url := newRouter(t)
	stable := newBackend(t, "s1", "v1", nil)
	canary := newBackend(t, "c1", "v2", nil)
	for i, w := range []int{0, 100, 0, 100, -5, 250} {
		r.Set("web", Table{Stable: &stable, Canary: &canary, Weight: w})
		want := "v1"
		if w >= 100 {
			want = "v2"
		}
		if _, v, _ := get(t, url, nil); v != want {
			t.Fatalf("step %d: weight %d served %q, want %q", i, w, v, want)
		}
	}
	if got := r.Get("web").Weight; got != 100 {
		t.Errorf("Get().Weight = %d, want clamped 100", got)
	}
}

func TestOneRoleTakesAll(t *testing.T) {
	r, url := newRouter(t)
	if code, _, body := get(t, url, nil); code != 503 || !strings.Contains(body, "no backend") {
		t.Fatalf("empty table: %d %q", code, body)
	}
	canary := newBackend(t, "c1", "v2", nil)
	r.Set("web", Table{Canary: &canary, Weight: 0})
	if _, v, _ := get(t, url, nil); v != "v2" {
		t.Fatalf("canary-only table served %q", v)
	}
}

func TestInFlightFinishesWhereItStarted(t *testing.T) {
	r, url := newRouter(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	old := newBackend(t, "a", "v1", func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "v1")
	})
	next := newBackend(t, "b", "v2", nil)
	r.Set("web", Table{Stable: &old})
	done := make(chan string)
	go func() {
		_, v, _ := get(t, url, nil)
		done <- v
	}()
	<-arrived
	r.Set("web", Table{Stable: &next})
	if _, v, _ := get(t, url, nil); v != "v2" {
		t.Errorf("request after Set served %q", v)
	}
	close(release)
	if v := <-done; v != "v1" {
		t.Errorf("in-flight request served %q, want v1", v)
	}
}

func TestConcurrentSet(t *testing.T) {
	r, url := newRouter(t)
	backends := []Backend{
		newBackend(t, "a", "v1", nil),
		newBackend(t, "b", "v2", nil),
		newBackend(t, "c", "v3", nil),
	}
	r.Set("web", Table{Stable: &backends[0]})
	stop := make(chan struct{})
	var setter sync.WaitGroup
	setter.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s, c := backends[i%3], backends[(i+1)%3]
			r.Set("web", Table{Stable: &s, Canary: &c, Weight: i % 101})
			_ = r.Get("web")
		}
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				code, v, body := get(t, url, nil)
				if code != 200 || v != body {
					t.Errorf("got %d %q %q", code, v, body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	setter.Wait()
	var total uint64
	for _, b := range backends {
		total += r.Counters(b.ID).Requests
	}
	if total != 800 {
		t.Errorf("counted %d requests, want 800", total)
	}
}

func TestGetReturnsCopies(t *testing.T) {
	r := New(nil)
	defer r.Close()
	b := Backend{ID: "a", Version: "v1", Addr: "127.0.0.1:1"}
	r.Set("web", Table{Stable: &b})
	b.Version = "changed"
	got := r.Get("web")
	got.Stable.Version = "changed too"
	if v := r.Get("web").Stable.Version; v != "v1" {
		t.Errorf("stored version %q changed through a pointer", v)
	}
	if (r.Get("nope") != Table{}) {
		t.Error("unknown service has a table")
	}
}

func TestServeAddresses(t *testing.T) {
	r := New(nil)
	defer r.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = r.Serve("web", busy.Addr().String())
	if err == nil {
		t.Fatal("Serve on a busy address succeeded")
	}
	if !errors.Is(err, syscall.EADDRINUSE) || shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("unclear error: %v", err)
	}
	t.Log(err)

	if err := r.Serve("web", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := r.Addr("web")
	if err := r.Serve("web", "127.0.0.1:0"); err != nil {
		t.Errorf("Serve again with the same address: %v", err)
	}
	if err := r.Serve("web", addr); err != nil {
		t.Errorf("Serve again with the resolved address: %v", err)
	}
	if r.Addr("web") != addr {
		t.Errorf("address moved")
	}
	if err := r.Serve("web", "127.0.0.1:1"); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Errorf("Serve on a second address: %v", err)
	}
	err = r.Serve("api", addr)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), `front listener of service "web"`) {
		t.Errorf("address taken by another service: %v", err)
	}
}

func TestRemoveClosesListener(t *testing.T) {
	r, url := newRouter(t)
	b := newBackend(t, "a", "v1", nil)
	r.Set("web", Table{Stable: &b})
	if code, _, _ := get(t, url, nil); code != 200 {
		t.Fatalf("status %d", code)
	}
	addr := r.Addr("web")
	r.Remove("web")
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("listener %s still accepts after Remove", addr)
	}
	if r.Addr("web") != "" || (r.Get("web") != Table{}) {
		t.Error("service not forgotten")
	}
	if r.Counters("a").Requests != 1 {
		t.Error("counters dropped by Remove")
	}
	// The address is free for the service to come back.
	if err := r.Serve("web", addr); err != nil {
		t.Fatal(err)
	}
}

func TestPreview(t *testing.T) {
	r, url := newRouter(t)
	stable := newBackend(t, "s1", "v1", nil)
	green := newBackend(t, "g1", "v2", nil)
	if err := r.ServePreview("web", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	purl := "http://" + r.PreviewAddr("web")
	r.Set("web", Table{Stable: &stable})
	if code, _, _ := get(t, purl, nil); code != 503 {
		t.Errorf("preview without a preview backend: %d", code)
	}
	r.Set("web", Table{Stable: &stable, Preview: &green})
	for range 10 {
		if _, v, _ := get(t, url, func(q *http.Request) { q.Header.Set("X-Shipgate-Version", "v2") }); v != "v1" {
			t.Fatalf("front served %q", v)
		}
		if _, v, _ := get(t, purl, nil); v != "v2" {
			t.Fatalf("preview served %q", v)
		}
	}
	addr := r.PreviewAddr("web")
	r.ClosePreview("web")
	if r.PreviewAddr("web") != "" {
		t.Error("preview address kept")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("preview listener still accepts")
	}
	if _, v, _ := get(t, url, nil); v != "v1" {
		t.Errorf("front after ClosePreview served %q", v)
	}
}

func TestForget(t *testing.T) {
	r, url := newRouter(t)
	b := newBackend(t, "a", "v1", nil)
	r.Set("web", Table{Stable: &b})
	get(t, url, nil)
	get(t, url, nil)
	if n := r.Counters("a").Requests; n != 2 {
		t.Fatalf("requests %d", n)
	}
	r.Forget("a")
	if c := r.Counters("a"); c.Requests != 0 {
		t.Fatalf("forgotten counters %d", c.Requests)
	}
	// Still routed: counting restarts from zero.
	get(t, url, nil)
	if n := r.Counters("a").Requests; n != 1 {
		t.Errorf("requests after Forget %d, want 1", n)
	}
	if (r.Counters("never") != Counters{}) {
		t.Error("unknown backend has counters")
	}
}

func TestCloseStopsServe(t *testing.T) {
	r := New(nil)
	if err := r.Serve("web", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := r.Addr("web")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("listener open after Close")
	}
	if err := r.Serve("web", "127.0.0.1:0"); err == nil {
		t.Error("Serve after Close succeeded")
	}
}

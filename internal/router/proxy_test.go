package router

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
)

func TestForwarding(t *testing.T) {
	r, url := newRouter(t)
	type seen struct {
		method, uri, host, body string
		header                  http.Header
	}
	got := make(chan seen, 1)
	b := newBackend(t, "a", "v1", func(w http.ResponseWriter, q *http.Request) {
		body, _ := io.ReadAll(q.Body)
		got <- seen{q.Method, q.RequestURI, q.Host, string(body), q.Header.Clone()}
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("X-Kept", "yes")
		w.Header().Set("X-Shipgate-Version", "spoofed")
		w.WriteHeader(201)
		io.WriteString(w, "created")
	})
	r.Set("web", Table{Stable: &b})

	req, _ := http.NewRequest("POST", url+"/items/1?x=1&y=%20z", strings.NewReader("payload"))
	req.Host = "shop.example"
	req.Header.Set("Connection", "keep-alive, X-Hop")
	req.Header.Set("X-Hop", "secret")
	req.Header.Set("Keep-Alive", "300")
	req.Header.Set("Te", "gzip")
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("Proxy-Authorization", "Basic Zm9v")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	req.Header.Set("X-Custom", "kept")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	s := <-got
	if s.method != "POST" || s.uri != "/items/1?x=1&y=%20z" || s.body != "payload" || s.host != "shop.example" {
		t.Errorf("backend saw %s %s host %q body %q", s.method, s.uri, s.host, s.body)
	}
	for _, k := range []string{"X-Hop", "Keep-Alive", "Te", "Upgrade", "Proxy-Authorization", "Proxy-Connection"} {
		if v, ok := s.header[k]; ok {
			t.Errorf("hop-by-hop %s forwarded: %q", k, v)
		}
	}
	if v := s.header.Get("Connection"); v != "" {
		t.Errorf("Connection forwarded: %q", v)
	}
	if v := s.header.Get("X-Forwarded-For"); v != "1.2.3.4, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", v)
	}
	if v := s.header.Get("X-Custom"); v != "kept" {
		t.Errorf("X-Custom = %q", v)
	}
	if v := s.header.Get("User-Agent"); v != "Go-http-client/1.1" {
		t.Errorf("client's User-Agent = %q", v)
	}

	if resp.StatusCode != 201 || string(body) != "created" {
		t.Errorf("client got %d %q", resp.StatusCode, body)
	}
	for _, k := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("hop-by-hop response %s forwarded: %q", k, v)
		}
	}
	if resp.Header.Get("X-Kept") != "yes" || resp.Header.Get("X-Shipgate-Version") != "v1" {
		t.Errorf("response header %v", resp.Header)
	}
}

func TestUploadIsStreamed(t *testing.T) {
	r, url := newRouter(t)
	got := make(chan int64, 1)
	b := newBackend(t, "a", "v1", func(w http.ResponseWriter, q *http.Request) {
		n, _ := io.Copy(io.Discard, q.Body)
		got <- n
	})
	r.Set("web", Table{Stable: &b})
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 64<<10)
		for range 64 { // 4 MiB of unknown length: chunked all the way
			pw.Write(chunk)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", url, pr)
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := <-got; resp.StatusCode != 200 || n != 4<<20 {
		t.Errorf("status %d, backend got %d bytes", resp.StatusCode, n)
	}
}

func TestForwardingNoUserAgentNoXFF(t *testing.T) {
	r, url := newRouter(t)
	got := make(chan http.Header, 1)
	b := newBackend(t, "a", "v1", func(w http.ResponseWriter, q *http.Request) { got <- q.Header.Clone() })
	r.Set("web", Table{Stable: &b})
	get(t, url, func(q *http.Request) { q.Header.Set("User-Agent", "") })
	h := <-got
	if _, ok := h["User-Agent"]; ok {
		t.Errorf("User-Agent added: %q", h.Get("User-Agent"))
	}
	if v := h.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", v)
	}
}

func TestStreamingIsFlushed(t *testing.T) {
	r, url := newRouter(t)
	release := make(chan struct{})
	b := newBackend(t, "a", "v1", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: second\n\n")
	})
	r.Set("web", Table{Stable: &b})
	// A deadline so a missing flush fails the test rather than hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: second\n\n" {
		t.Errorf("rest %q", rest)
	}
}

func TestTrailers(t *testing.T) {
	r, url := newRouter(t)
	b := newBackend(t, "a", "v1", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
	})
	r.Set("web", Table{Stable: &b})
	resp, err := testClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if v := resp.Trailer.Get("X-Checksum"); v != "abc" {
		t.Errorf("trailer %q", v)
	}
}

func TestErrorsCounted(t *testing.T) {
	r, url := newRouter(t)
	failing := newBackend(t, "bad", "v2", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", 500)
	})
	ok := newBackend(t, "ok", "v1", nil)
	r.Set("web", Table{Stable: &ok, Canary: &failing, Weight: 100})
	get(t, url, nil)
	get(t, url, nil)
	if c := r.Counters("bad"); c.Requests != 2 || c.Errors != 2 {
		t.Errorf("500s: %d requests %d errors", c.Requests, c.Errors)
	}
	r.Set("web", Table{Stable: &ok})
	get(t, url, nil)
	if c := r.Counters("ok"); c.Requests != 1 || c.Errors != 0 {
		t.Errorf("200: %d requests %d errors", c.Requests, c.Errors)
	}

	// A stopped instance: connection refused, answered 502.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := Backend{ID: "dead", Version: "v3", Addr: ln.Addr().String()}
	ln.Close()
	r.Set("web", Table{Stable: &dead})
	code, v, body := get(t, url, nil)
	if code != 502 || v != "v3" || !strings.Contains(body, "bad gateway") {
		t.Errorf("dead backend: %d %q %q", code, v, body)
	}
	if c := r.Counters("dead"); c.Requests != 1 || c.Errors != 1 {
		t.Errorf("502: %d requests %d errors", c.Requests, c.Errors)
	}
}

func TestCutResponseIsAnError(t *testing.T) {
	r, url := newRouter(t)
	b := newBackend(t, "cut", "v1", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "short")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the instance dies mid-body
	})
	r.Set("web", Table{Stable: &b})
	resp, err := testClient.Get(url)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("client saw a complete response")
	}
	if c := r.Counters("cut"); c.Requests != 1 || c.Errors != 1 {
		t.Errorf("cut: %d requests %d errors", c.Requests, c.Errors)
	}
}

func TestClientGoneIsNotAnError(t *testing.T) {
	r, url := newRouter(t)
	arrived := make(chan struct{})
	b := newBackend(t, "a", "v1", func(w http.ResponseWriter, q *http.Request) {
		close(arrived)
		<-q.Context().Done() // the router hung up on us
	})
	r.Set("web", Table{Stable: &b})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	done := make(chan error)
	go func() {
		_, err := testClient.Do(req)
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled request succeeded")
	}
	// The router accounts once its round trip returns; wait for that
	// without sleeping.
	testutil.WaitFor(t, "the router to account the abandoned request", func() bool { return r.Counters("a").Requests != 0 })
	if c := r.Counters("a"); c.Requests != 1 || c.Errors != 0 {
		t.Errorf("abandoned request: %d requests %d errors", c.Requests, c.Errors)
	}
}

func TestWebSocketRefused(t *testing.T) {
	r, url := newRouter(t)
	b := newBackend(t, "a", "v1", nil)
	r.Set("web", Table{Stable: &b})
	code, _, _ := get(t, url, func(q *http.Request) {
		q.Header.Set("Connection", "Upgrade")
		q.Header.Set("Upgrade", "websocket")
	})
	if code != http.StatusNotImplemented {
		t.Errorf("websocket upgrade: %d", code)
	}
	if n := r.Counters("a").Requests; n != 0 {
		t.Errorf("refused upgrade counted: %d", n)
	}
}

func TestLatencyCounted(t *testing.T) {
	r, url := newRouter(t)
	b := newBackend(t, "a", "v1", nil)
	r.Set("web", Table{Stable: &b})
	for range 10 {
		get(t, url, nil)
	}
	c := r.Counters("a")
	var inBuckets uint64
	for _, n := range c.Buckets {
		inBuckets += n
	}
	if c.Requests != 10 || inBuckets != 10 || c.LatencySum <= 0 || c.Quantile(0.5) <= 0 || c.Mean() <= 0 {
		t.Errorf("counters %d req, %d in buckets, sum %v", c.Requests, inBuckets, c.LatencySum)
	}
}

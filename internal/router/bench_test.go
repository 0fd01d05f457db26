package router

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAccount is one request's accounting: bucket index and atomic
// adds, and with the clock reads the proxy does around it.
func BenchmarkAccount(b *testing.B) {
	var m meter
	d := []time.Duration{900 * time.Microsecond, 3 * time.Millisecond, 12 * time.Millisecond, 250 * time.Microsecond}
	b.Run("serial", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			m.record(d[i&3], i&63 == 0)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				m.record(d[i&3], i&63 == 0)
			}
		})
	})
	b.Run("parallel+clock", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				start := time.Now()
				m.record(time.Since(start), i&63 == 0)
			}
		})
	})
}

// benchBodies are the response sizes the proxies are compared at.
var benchBodies = []int{64, 64 << 10}

// backendFor serves a fixed body of size bytes, with a Content-Length.
func backendFor(b *testing.B, size int) *httptest.Server {
	body := bytes.Repeat([]byte("x"), size)
	cl := strconv.Itoa(size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", cl)
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// drive runs GETs to url from many client goroutines and checks each.
func drive(b *testing.B, url string, size int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	bufs := sync.Pool{New: func() any { return make([]byte, 32<<10) }}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		buf := bufs.Get().([]byte)
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
			resp.Body.Close()
			if err != nil || n != int64(size) || resp.StatusCode != 200 {
				b.Errorf("got %d bytes, status %d, %v", n, resp.StatusCode, err)
				return
			}
		}
	})
}

// cpuTime is the CPU time this process has used. End-to-end figures on a
// shared machine swing with its load; CPU per request (client, proxy and
// backend together, all in this process) is what throughput per core
// follows.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProxy measures a request through the Router end to end on
// loopback: client, router (routing, forwarding, accounting) and backend.
func BenchmarkProxy(b *testing.B) {
	for _, size := range benchBodies {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			backend := backendFor(b, size)
			r := New(nil)
			b.Cleanup(func() { r.Close() })
			if err := r.Serve("web", "127.0.0.1:0"); err != nil {
				b.Fatal(err)
			}
			r.Set("web", Table{Stable: &Backend{ID: "a", Version: "v1", Addr: backend.Listener.Addr().String()}})
			drive(b, "http://"+r.Addr("web")+"/", size)
		})
	}
}

// BenchmarkReverseProxy is the same path through httputil.ReverseProxy over
// the same Transport: as commonly configured (no BufferPool), and with a
// buffer pool to show what remains once its per-request 32 KiB buffer is
// gone.
func BenchmarkReverseProxy(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		for _, size := range benchBodies {
			name := strconv.Itoa(size) + "B"
			if pooled {
				name += "/pooled"
			}
			b.Run(name, func(b *testing.B) {
				backend := backendFor(b, size)
				u, _ := url.Parse(backend.URL)
				rp := httputil.NewSingleHostReverseProxy(u)
				tr := NewTransport()
				b.Cleanup(tr.CloseIdleConnections)
				rp.Transport = tr
				if pooled {
					rp.BufferPool = bufferPool{}
				}
				front := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
				srv := httptest.NewUnstartedServer(rp)
				srv.Config = front
				srv.Start()
				b.Cleanup(srv.Close)
				drive(b, srv.URL+"/", size)
			})
		}
	}
}

type bufferPool struct{}

func (bufferPool) Get() []byte  { return (*copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

// memTransport answers every request with a fixed body from memory, so the
// handler benchmarks measure the proxies' own code and nothing else.
type memTransport struct {
	body []byte
	cl   string
}

func (m *memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {m.cl}, "Date": {"Mon, 01 Jan 2026 00:00:00 GMT"}},
		Body:          io.NopCloser(bytes.NewReader(m.body)),
		ContentLength: int64(len(m.body)),
		Request:       req,
	}, nil
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

func benchRequest() *http.Request {
	req := httptest.NewRequest("GET", "http://shop.example/items/1?x=1", nil)
	req.RemoteAddr = "10.0.0.7:51234"
	req.Header = http.Header{
		"User-Agent":      {"wrk"},
		"Accept":          {"*/*"},
		"Accept-Encoding": {"gzip"},
		"Connection":      {"keep-alive"},
	}
	return req
}

func runHandler(b *testing.B, h http.Handler) {
	req := benchRequest()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkProxyHandler is the Router's handler alone over an in-memory
// transport: routing, forwarding, copying and accounting.
func BenchmarkProxyHandler(b *testing.B) {
	r := New(nil)
	defer r.Close()
	r.transport = &memTransport{body: bytes.Repeat([]byte("x"), 64), cl: "64"}
	r.Set("web", Table{Stable: &Backend{ID: "a", Version: "v1", Addr: "127.0.0.1:1"}})
	r.mu.Lock()
	h := &handler{r: r, svc: r.services["web"]}
	r.mu.Unlock()
	runHandler(b, h)
}

// BenchmarkReverseProxyHandler is httputil.ReverseProxy over the same
// in-memory transport, without and with a BufferPool.
func BenchmarkReverseProxyHandler(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		name := "default"
		if pooled {
			name = "pooled"
		}
		b.Run(name, func(b *testing.B) {
			u, _ := url.Parse("http://127.0.0.1:1")
			rp := httputil.NewSingleHostReverseProxy(u)
			rp.Transport = &memTransport{body: bytes.Repeat([]byte("x"), 64), cl: "64"}
			if pooled {
				rp.BufferPool = bufferPool{}
			}
			runHandler(b, rp)
		})
	}
}

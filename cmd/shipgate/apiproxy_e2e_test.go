package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/testutil"
)

// Every end-to-end test that starts a server through the harness talks to
// it through apiFront: an in-process reverse proxy that checks each request
// and response of the CLI processes and agents against openapi.json with the
// same checker the API's own tests use, and fails the test with the method,
// path, status and schema path of any mismatch. TLS servers are exempt
// (agents must present their client certificate to the server itself), and
// so are benchmarks, whose numbers the checking would distort.

// e2eAPIDoc is the OpenAPI document the binary serves, validated once.
var e2eAPIDoc = sync.OnceValues(func() (*testutil.OpenAPI, error) {
	return testutil.LoadOpenAPI(httpapi.OpenAPIDocument())
})

// apiFront is the checking proxy in front of one test server. It outlives
// restarts of the server (same listen address), so agents started with its
// URL find the server again.
type apiFront struct {
	srv     *httptest.Server
	target  atomic.Pointer[url.URL]
	checked atomic.Int64 // requests that went through the checker
}

// checkedURL returns the URL clients should use for the server at s.direct:
// a checking proxy's, or s.direct itself where no proxy can sit between.
func (s *server) checkedURL() string {
	if _, bench := s.t.(*testing.B); bench || !strings.HasPrefix(s.direct, "http://") {
		return s.direct
	}
	u, err := url.Parse(s.direct)
	if err != nil {
		s.t.Fatalf("server URL %q: %v", s.direct, err)
	}
	if s.front == nil {
		doc, err := e2eAPIDoc()
		if err != nil {
			s.t.Fatal(err)
		}
		f := &apiFront{}
		proxy := doc.Proxy(s.t, f.target.Load)
		f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.checked.Add(1)
			proxy.ServeHTTP(w, r)
		}))
		s.front = f
	}
	s.front.target.Store(u)
	return s.front.srv.URL
}

// close stops the proxy once every exchange through it has been checked.
func (f *apiFront) close() {
	if f != nil {
		f.srv.Close()
	}
}

// The harness's clients — CLI runs and agents — reach a plain-HTTP server
// through the checking proxy, which follows the server across a restart.
func TestE2ETrafficIsCheckedAgainstOpenAPI(t *testing.T) {
	s := startServerWith(t, []string{"--no-local-runner"})
	if s.front == nil || s.url == s.direct || !strings.HasPrefix(s.url, "http://127.0.0.1:") {
		t.Fatalf("clients use %s, the server is at %s: no checking proxy in between", s.url, s.direct)
	}
	before := s.front.checked.Load()
	s.ok("admin", "whoami")
	if s.front.checked.Load() == before {
		t.Fatal("whoami did not go through the checking proxy")
	}
	url := s.url
	s.stop()
	s.start()
	if s.url != url {
		t.Fatalf("after a restart clients use %s, before %s", s.url, url)
	}
	before = s.front.checked.Load()
	s.ok("admin", "release", "list")
	if s.front.checked.Load() == before {
		t.Fatal("after a restart, release list did not go through the checking proxy")
	}
}

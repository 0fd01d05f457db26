package main

import (
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
	srv    *httptest.Server
	target atomic.Pointer[url.URL]
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
		f.srv = httptest.NewServer(doc.Proxy(s.t, f.target.Load))
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

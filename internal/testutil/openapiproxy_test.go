package testutil_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// proxyDoc is a small document: one JSON operation and one stream.
const proxyDoc = `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/things/{name}": {
      "get": {
        "operationId": "getThing",
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "a thing", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
        }
      }
    },
    "/stream": {
      "get": {
        "operationId": "getStream",
        "responses": {
          "200": {"description": "events", "content": {"application/x-ndjson": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
        }
      }
    }
  },
  "components": {
    "schemas": {
      "Thing": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {"name": {"type": "string"}}},
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object"}}}
    }
  }
}`

// recorder keeps what the checker reports instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// proxied starts backend and a checking proxy in front of it, and returns
// the proxy's URL, the recorder of its reports and a func that stops both
// so every check has run.
func proxied(t *testing.T, backend http.Handler) (string, *recorder, func()) {
	t.Helper()
	doc, err := testutil.LoadOpenAPI([]byte(proxyDoc))
	if err != nil {
		t.Fatal(err)
	}
	be := httptest.NewServer(backend)
	u, _ := url.Parse(be.URL)
	rec := &recorder{TB: t}
	front := httptest.NewServer(doc.Proxy(rec, func() *url.URL { return u }))
	stop := func() { front.Close(); be.Close() }
	t.Cleanup(stop)
	return front.URL, rec, stop
}

// The proxy the end-to-end tests put in front of the real server catches a
// server that departs from the document, naming method, path, status,
// operation and schema path; a server that matches is not reported.
func TestOpenAPIProxyCatchesAWrongServer(t *testing.T) {
	base, rec, stop := proxied(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/bad") {
			io.WriteString(w, `{"name":"bad","nickname":"b"}`)
			return
		}
		io.WriteString(w, `{"name":"good"}`)
	}))
	for _, p := range []string{"/things/good", "/things/bad"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"name"`) {
			t.Fatalf("%s through the proxy: %d %s", p, resp.StatusCode, body)
		}
	}
	stop()
	got := rec.reported()
	for _, want := range []string{"openapi: GET /things/bad → 200", "getThing", `property "nickname" is unsupported`, "#/components/schemas/Thing"} {
		if !strings.Contains(got, want) {
			t.Errorf("the proxy reported\n%s\nwhich does not contain %q", got, want)
		}
	}
	if strings.Contains(got, "/things/good") {
		t.Errorf("a matching exchange was reported:\n%s", got)
	}
}

// A stream passes through as it is written — the client reads the first
// event while the server is still holding the response open — and only
// its status and content type are checked.
func TestOpenAPIProxyStreams(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, want string
	}{
		{"documented", "application/x-ndjson", ""},
		{"undocumented content type", "text/event-stream", `response 200 has Content-Type "text/event-stream", which the document does not give for it`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := make(chan struct{})
			base, rec, stop := proxied(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				io.WriteString(w, "{\"name\":\"a\",\"not\":\"in the schema\"}\n")
				http.NewResponseController(w).Flush()
				<-read // the client has the first event before the response ends
				io.WriteString(w, "{\"name\":\"b\"}\n")
			}))
			resp, err := http.Get(base + "/stream")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			first, err := br.ReadString('\n')
			if err != nil || !strings.Contains(first, `"a"`) {
				t.Fatalf("first event %q, %v", first, err)
			}
			close(read)
			if rest, _ := io.ReadAll(br); !strings.Contains(string(rest), `"b"`) {
				t.Fatalf("rest of the stream %q", rest)
			}
			stop()
			got := rec.reported()
			if tc.want == "" && got != "" {
				t.Fatalf("a documented stream was reported:\n%s", got)
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("the proxy reported\n%s\nwhich does not contain %q", got, tc.want)
			}
		})
	}
}

// The server sees the client's Host and forwarding headers, as it would
// without the proxy; a server that cannot be reached cuts the client's
// connection (no answer of the proxy's own) and nothing is checked.
func TestOpenAPIProxyIsTransparent(t *testing.T) {
	seen := make(chan http.Header, 1)
	base, rec, stop := proxied(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"x"}`)
	}))
	req, _ := http.NewRequest("GET", base+"/things/x", nil)
	req.Host = "shipgate.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-seen
	if h.Get("Host") != "shipgate.example" || h.Get("X-Forwarded-For") != "203.0.113.7" {
		t.Fatalf("the server saw Host %q, X-Forwarded-For %q", h.Get("Host"), h.Get("X-Forwarded-For"))
	}

	doc, _ := testutil.LoadOpenAPI([]byte(proxyDoc))
	gone := httptest.NewServer(http.NotFoundHandler())
	gu, _ := url.Parse(gone.URL)
	gone.Close()
	rec2 := &recorder{TB: t}
	front := httptest.NewServer(doc.Proxy(rec2, func() *url.URL { return gu }))
	if resp, err := http.Get(front.URL + "/things/x"); err == nil {
		resp.Body.Close()
		t.Fatalf("a server that is down was answered %d through the proxy", resp.StatusCode)
	}
	front.Close()
	stop()
	if got := rec.reported() + rec2.reported(); got != "" {
		t.Fatalf("reported:\n%s", got)
	}
}

package testutil

import (
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
)

// Proxy is a reverse proxy to the server at target() that checks every
// exchange passing through it against the document, as Handler does. The
// end-to-end tests put it between the real binary's server and the CLI
// processes and agents they start, so traffic the API's own tests never
// send (the CLI's query strings, an agent's long polls) is checked too.
//
// It is transparent: the server sees the client's Host and X-Forwarded-*
// headers, not the proxy's, and responses are flushed as they are written,
// so long polls and streams pass through unbuffered. When the server
// cannot be reached (stopped, restarting, killed mid-answer) or the client
// goes away, the client's connection is cut, as it would be without the
// proxy, and nothing is checked: there was no exchange to check. target is
// called for each request, so a restarted server can be followed.
func (o *OpenAPI) Proxy(t testing.TB, target func() *url.URL) http.Handler {
	transport := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 32, DisableCompression: true}
	t.Cleanup(transport.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target())
			pr.Out.Host = pr.In.Host
			// Rewrite drops these from the outbound request; the
			// server must see what the client sent.
			for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v, ok := pr.In.Header[h]; ok {
					pr.Out.Header[h] = v
				}
			}
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) {
			// A 502 of the proxy's own would be checked as the server's
			// answer; cut the connection instead, which also skips the
			// check in Handler.
			panic(http.ErrAbortHandler)
		},
	}
	return o.Handler(t, rp)
}

// streaming reports whether a response's content type is a stream (Server-
// Sent Events, NDJSON): its body is passed on as it comes and only its
// status and headers are checked.
func streaming(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mt {
	case "text/event-stream", "application/x-ndjson", "application/jsonl", "application/json-seq":
		return true
	}
	return false
}

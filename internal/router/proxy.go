package router

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Names a client uses to pin a request to a version: "stable", "canary" or
// an exact version string.
const (
	versionHeader = "X-Shipgate-Version" // canonical form, looked up without canonicalising
	versionCookie = "shipgate-version"
)

// NewTransport returns the Transport the router proxies through, tuned
// for many concurrent requests to a few local instances; the router
// benchmark gives httputil.ReverseProxy the same one to compare like
// with like.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // instances are local; HTTP_PROXY must not reroute them
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          0, // no global cap; the per-host cap bounds it
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass encodings through untouched
		ForceAttemptHTTP2:     false,
	}
}

// handler serves one listener of one service.
type handler struct {
	r       *Router
	svc     *service
	preview bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	if isWebSocket(req.Header) {
		// Upgrades would need hijacking and a byte pump outside the
		// accounting; services behind the router do not get them yet.
		http.Error(w, "shipgate router: websocket upgrades are not supported", http.StatusNotImplemented)
		return
	}
	s := h.svc.table.Load()
	var t *target
	pinned := false
	if h.preview {
		t = s.preview
	} else {
		t, pinned = s.pick(req.Header)
	}
	if t == nil {
		http.Error(w, "shipgate router: no backend for this service", http.StatusServiceUnavailable)
		return
	}
	h.r.proxy(w, req, t, pinned, start)
}

// pick routes a request: a pin by header, then by cookie, then the weighted
// draw.
// pinned says the request chose its backend.
func (s *snapshot) pick(hdr http.Header) (t *target, pinned bool) {
	if v := hdr[versionHeader]; len(v) > 0 {
		if t := s.pinned(v[0]); t != nil {
			return t, true
		}
	}
	if v := cookieValue(hdr); v != "" {
		if t := s.pinned(v); t != nil {
			return t, true
		}
	}
	switch {
	case s.canary == nil:
		return s.stable, false
	case s.stable == nil, s.table.Weight >= 100:
		return s.canary, false
	case s.table.Weight > 0 && rand.IntN(100) < s.table.Weight:
		return s.canary, false
	}
	return s.stable, false
}

func (s *snapshot) pinned(v string) *target {
	switch {
	case v == roleCanary:
		return s.canary
	case v == roleStable:
		return s.stable
	case s.stable != nil && v == s.stable.backend.Version:
		return s.stable
	case s.canary != nil && v == s.canary.backend.Version:
		return s.canary
	}
	return nil
}

// cookieValue returns the value of the pinning cookie, parsing cookies only
// when the raw header mentions it.
func cookieValue(hdr http.Header) string {
	for _, line := range hdr["Cookie"] {
		if !strings.Contains(line, versionCookie) {
			continue
		}
		cs, err := http.ParseCookie(line)
		if err != nil {
			continue
		}
		for _, c := range cs {
			if c.Name == versionCookie {
				return c.Value
			}
		}
	}
	return ""
}

func isWebSocket(hdr http.Header) bool {
	for _, v := range hdr["Upgrade"] {
		if strings.Contains(strings.ToLower(v), "websocket") {
			return true
		}
	}
	return false
}

// outbound holds everything a forwarded request needs in one allocation.
type outbound struct {
	req http.Request
	url url.URL
	xff [1]string
}

// Shared read-only header values.
var (
	emptyValue  = []string{""}
	teTrailers  = []string{"trailers"}
	copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

// proxy forwards req to t and streams the answer back. Latency runs from
// start to the end of the body copy, so a response that streams slowly
// counts as slow.
func (r *Router) proxy(w http.ResponseWriter, in *http.Request, t *target, pinned bool, start time.Time) {
	account := func(failed bool) {
		if pinned {
			t.meter.pinned.Add(1)
		} else {
			t.meter.record(time.Since(start), failed)
		}
	}
	o := &outbound{req: *in, url: *in.URL}
	o.url.Scheme = "http"
	o.url.Host = t.backend.Addr
	o.url.User = nil
	o.req.URL = &o.url
	o.req.RequestURI = ""
	o.req.Close = false
	o.req.Header = forwardHeader(in, o)
	if in.ContentLength == 0 {
		o.req.Body = nil // lets the Transport retry on a stale keep-alive connection
	}
	o.req.GetBody = nil

	resp, err := r.transport.RoundTrip(&o.req)
	if err != nil {
		gone := in.Context().Err() != nil
		account(!gone)
		if !gone && t.meter.warnNow(time.Now()) {
			r.logger.Warn("router: backend unreachable", "backend", t.backend.ID, "version", t.backend.Version, "addr", t.backend.Addr, "error", err)
		}
		w.Header()[versionHeader] = t.version
		http.Error(w, "shipgate router: bad gateway", http.StatusBadGateway)
		return
	}

	dst := w.Header()
	for k, vv := range resp.Header {
		if !isHopByHop(k) {
			dst[k] = vv
		}
	}
	removeConnectionHeaders(dst, resp.Header)
	dst[versionHeader] = t.version
	announced := len(resp.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	if announced > 0 && flusher != nil {
		flusher.Flush() // chunked encoding, so the trailers can follow
	}
	if resp.ContentLength != -1 && !isEventStream(resp.Header) {
		flusher = nil
	}
	readErr, writeErr := copyBody(w, resp.Body, flusher)
	resp.Body.Close()
	if readErr == nil && writeErr == nil && len(resp.Trailer) > 0 {
		if len(resp.Trailer) == announced {
			for k, vv := range resp.Trailer {
				dst[k] = vv
			}
		} else {
			for k, vv := range resp.Trailer {
				dst[http.TrailerPrefix+k] = vv
			}
		}
	}
	failed := resp.StatusCode >= 500 || (readErr != nil && in.Context().Err() == nil)
	account(failed)
	if readErr != nil {
		if in.Context().Err() == nil && t.meter.warnNow(time.Now()) {
			r.logger.Warn("router: backend response cut", "backend", t.backend.ID, "version", t.backend.Version, "error", readErr)
		}
		// Abort the client connection so a cut body cannot pass for a
		// complete one.
		panic(http.ErrAbortHandler)
	}
}

// forwardHeader copies the request header minus hop-by-hop fields, sharing
// value slices (nothing downstream writes them), and appends the client to
// X-Forwarded-For.
func forwardHeader(in *http.Request, o *outbound) http.Header {
	src := in.Header
	h := make(http.Header, len(src)+2)
	for k, vv := range src {
		if !isHopByHop(k) && k != versionHeader {
			h[k] = vv // the pin is the router's business, not the backend's
		}
	}
	removeConnectionHeaders(h, src)
	for _, v := range src["Te"] {
		if hasToken(v, "trailers") {
			h["Te"] = teTrailers // gRPC needs it end to end
			break
		}
	}
	if _, ok := src["User-Agent"]; !ok {
		h["User-Agent"] = emptyValue // keep Go's default User-Agent out
	}
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		prior, ok := src["X-Forwarded-For"]
		switch {
		case ok && prior == nil:
			// An explicit nil means "do not add", as in httputil.
		case len(prior) == 1:
			o.xff[0] = prior[0] + ", " + ip
			h["X-Forwarded-For"] = o.xff[:]
		case len(prior) > 1:
			o.xff[0] = strings.Join(prior, ", ") + ", " + ip
			h["X-Forwarded-For"] = o.xff[:]
		default:
			o.xff[0] = ip
			h["X-Forwarded-For"] = o.xff[:]
		}
	}
	return h
}

// isHopByHop reports whether a canonical header name is a hop-by-hop field
// (RFC 9110 section 7.6.1) that a proxy must not forward.
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return strings.HasPrefix(k, "Proxy-")
}

// removeConnectionHeaders deletes from dst the fields src's Connection
// header names.
func removeConnectionHeaders(dst, src http.Header) {
	for _, v := range src["Connection"] {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			tok = strings.TrimSpace(tok)
			if tok == "" || strings.EqualFold(tok, "close") || strings.EqualFold(tok, "keep-alive") {
				continue
			}
			delete(dst, http.CanonicalHeaderKey(tok))
		}
	}
}

func hasToken(v, token string) bool {
	for v != "" {
		var tok string
		tok, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(tok), token) {
			return true
		}
	}
	return false
}

func isEventStream(h http.Header) bool {
	ct := h["Content-Type"]
	return len(ct) > 0 && strings.HasPrefix(ct[0], "text/event-stream")
}

// copyBody streams body to w through a pooled buffer, flushing after every
// write when flusher is set. It tells read errors (the backend's fault)
// from write errors (the client's).
func copyBody(w io.Writer, body io.Reader, flusher http.Flusher) (readErr, writeErr error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// Slow clients. The server bounds reading a request (header and body:
// http.Server's ReadHeaderTimeout and ReadTimeout; net/http lifts the read
// deadline once the body is in, so a claim that then long-polls is not
// cut) and idle keep-alive connections (IdleTimeout). Its WriteTimeout,
// though, is per connection and would cut the agents' claims, which
// long-poll for up to a minute before they write. So each write of a
// response gets WriteTimeout of its own: a client that stops reading is
// dropped, while a long-poll that writes once at the end, or a large
// download that keeps moving, is not.

// limitSlowWriter returns the writer that puts each write under the
// write deadline, and a func to call when the handler returns, which
// bounds the server's final flush of the response.
func (h *Handler) limitSlowWriter(w http.ResponseWriter) (http.ResponseWriter, func()) {
	if h.WriteTimeout <= 0 {
		return w, func() {}
	}
	rc := http.NewResponseController(w)
	return &stallWriter{ResponseWriter: w, rc: rc, d: h.WriteTimeout}, func() { rc.SetWriteDeadline(time.Now().Add(h.WriteTimeout)) }
}

// stallWriter gives every write of the response WriteTimeout to complete.
type stallWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (s *stallWriter) WriteHeader(code int) {
	s.rc.SetWriteDeadline(time.Now().Add(s.d))
	s.ResponseWriter.WriteHeader(code)
}

func (s *stallWriter) Write(p []byte) (int, error) {
	s.rc.SetWriteDeadline(time.Now().Add(s.d))
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// fromProxy sets r.RemoteAddr to the client's address when the request
// came through a trusted proxy: X-Forwarded-For is read from its right
// end, hop by hop, for as long as the hop that added an entry is trusted;
// the first address added by a trusted hop about an untrusted one is the
// client. Anything a client writes into the header itself lies to the
// left of that and is never believed.
func (h *Handler) fromProxy(r *http.Request) {
	if len(h.TrustedProxies) == 0 {
		return
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !h.trusted(peer.Addr()) {
		return
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer.Addr()
	for i := len(hops) - 1; i >= 0 && h.trusted(client); i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled entry: the last trusted hop is all we know
		}
		client = ip.Unmap()
	}
	r.RemoteAddr = net.JoinHostPort(client.String(), "0")
}

func (h *Handler) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range h.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkAgentCert refuses the agent protocol to a caller without a client
// certificate verified against the server's client CA, when the server
// requires one (serve --tls-client-ca).
func (h *Handler) checkAgentCert(r *http.Request) error {
	if !h.RequireAgentCert || (r.TLS != nil && len(r.TLS.VerifiedChains) > 0) {
		return nil
	}
	return shipgate.Errorf(shipgate.EUNAUTHORIZED, "this server accepts agents only with a client certificate signed by its client CA: run the agent with --client-cert FILE --client-key FILE")
}

package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Client returns an HTTP client whose every connection, redirects
// included, obeys the policy. timeout bounds each request (0: no bound
// but the request's context).
func (p *Policy) Client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: p.Transport(), Timeout: timeout}
}

// Transport returns an HTTP transport that dials only destinations the
// policy allows, and sends through a proxy only requests whose target it
// allows.
func (p *Policy) Transport() *http.Transport {
	return &http.Transport{
		Proxy:                 p.proxy,
		DialContext:           p.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// DialContext connects to addr ("host:port") if the policy allows it. A
// name is resolved here, and only the allowed addresses it resolves to
// are dialled — the very addresses that were checked, so a second DNS
// answer cannot slip another one in. With none allowed, nothing is
// dialled and the error is ErrRefused.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port in %q", addr)
	}
	name, ips, err := p.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var allowed []netip.Addr
	for _, ip := range ips {
		if (network == "tcp4" && !ip.Unmap().Is4()) || (network == "tcp6" && ip.Unmap().Is4()) {
			continue
		}
		if p.Allowed(name, ip, uint16(port)) {
			allowed = append(allowed, ip)
		}
	}
	if len(allowed) == 0 {
		return nil, ErrRefused
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		// The address the socket is about to connect to, checked once more
		// at the last moment.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !p.Allowed(name, ap.Addr(), ap.Port()) {
				return ErrRefused
			}
			return nil
		}}
	var first error
	for _, ip := range allowed {
		c, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// resolve returns the addresses of host and the name they were looked up
// by (empty for an address).
func (p *Policy) resolve(ctx context.Context, host string) (string, []netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return "", []netip.Addr{ip}, nil
	}
	lookup := p.LookupNetIP
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	ips, err := lookup(ctx, "ip", host)
	if err != nil {
		return "", nil, &LookupError{Host: host, Err: err}
	}
	if len(ips) == 0 {
		return "", nil, &LookupError{Host: host, Err: &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}}
	}
	return host, ips, nil
}

// LookupError is a failed DNS lookup of a host a user named, worded for
// that user: whether the host resolves, or that the lookup timed out or
// failed — never the address of the server's resolver, nor the socket
// error of asking it, which net.DNSError's text carries and which tell a
// user about the server's network.
type LookupError struct {
	Host string
	// Err is the resolver's error, for errors.Is and errors.As.
	Err error
}

// dnsFailures are the texts of net.DNSError.Err that name nothing of the
// server's network, shown as they are.
var dnsFailures = map[string]bool{
	"server misbehaving":           true,
	"no answer from DNS server":    true,
	"lame referral":                true,
	"cannot unmarshal DNS message": true,
	"cannot marshal DNS message":   true,
	"invalid DNS response":         true,
	"no addresses":                 true,
}

func (e *LookupError) Error() string {
	var de *net.DNSError
	dns := errors.As(e.Err, &de)
	switch {
	case errors.Is(e.Err, context.Canceled):
		return "host " + e.Host + " cannot be resolved: the lookup was canceled"
	case errors.Is(e.Err, context.DeadlineExceeded) || dns && de.IsTimeout:
		return "host " + e.Host + " cannot be resolved: the DNS lookup timed out"
	case dns && de.IsNotFound:
		return "host " + e.Host + " does not resolve"
	case dns && dnsFailures[de.Err]:
		return "host " + e.Host + " cannot be resolved: " + de.Err
	}
	return "host " + e.Host + " cannot be resolved: the DNS lookup failed"
}

func (e *LookupError) Unwrap() error { return e.Err }

// proxy picks the request's proxy and, when there is one, checks the
// request's target: the proxy, not this process, connects to it, so the
// dial check sees only the proxy's address (which the policy must allow
// too). A target named by a listed host name is sent as it is; any other
// name must resolve here to addresses the policy allows, all of them,
// since the proxy may use any.
func (p *Policy) proxy(req *http.Request) (*url.URL, error) {
	choose := p.Proxy
	if choose == nil {
		choose = http.ProxyFromEnvironment
	}
	u, err := choose(req)
	if err != nil || u == nil {
		return u, err
	}
	if err := p.CheckTarget(req.Context(), req.URL); err != nil {
		return nil, err
	}
	return u, nil
}

// CheckTarget checks the host of an http(s) URL against the policy
// without connecting: a listed name passes as it is; any other name
// passes only if every address it resolves to is allowed. It returns
// ErrRefused for a refused target.
func (p *Policy) CheckTarget(ctx context.Context, u *url.URL) error {
	port, err := urlPort(u)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if p.listedName(host, port) {
		return nil
	}
	name, ips, err := p.resolve(ctx, host)
	if err != nil {
		return fmt.Errorf("%w, so the egress policy cannot check it", err)
	}
	for _, ip := range ips {
		if !p.Allowed(name, ip, port) {
			return ErrRefused
		}
	}
	return nil
}

// RefusesLiteral reports whether the policy refuses u without needing
// DNS: its host is an IP address, or "localhost", that the policy
// refuses. The server config uses it to reject a sink it could never
// reach, at start instead of at each delivery.
func (p *Policy) RefusesLiteral(u *url.URL) bool {
	port, err := urlPort(u)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return !p.Allowed("", ip, port)
	}
	if normalName(host) == "localhost" && !p.listedName(host, port) {
		return !p.Allowed("localhost", netip.MustParseAddr("127.0.0.1"), port)
	}
	return false
}

// urlPort is the port a URL connects to.
func urlPort(u *url.URL) (uint16, error) {
	if s := u.Port(); s != "" {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("bad port in %s", u.Redacted())
		}
		return uint16(n), nil
	}
	switch u.Scheme {
	case "http":
		return 80, nil
	case "https":
		return 443, nil
	}
	return 0, fmt.Errorf("%s is not an http(s) URL", u.Redacted())
}

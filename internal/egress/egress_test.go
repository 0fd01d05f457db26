package egress_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shipgate/shipgate/internal/egress"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"artifacts.example.com", "artifacts.example.com"},
		{"Artifacts.Example.COM.", "artifacts.example.com"},
		{"*.internal.example.com", "*.internal.example.com"},
		{"prometheus.internal:9090", "prometheus.internal:9090"},
		{"localhost", "localhost"},
		{"10.0.0.5", "10.0.0.5"},
		{"10.0.0.5:9090", "10.0.0.5:9090"},
		{"[fd00::5]:9090", "[fd00::5]:9090"},
		{"[fd00::5]", "fd00::5"},
		{"fd00::5", "fd00::5"},
		{"::ffff:10.0.0.5", "10.0.0.5"},
		{"10.20.3.4/16", "10.20.0.0/16"},
		{"fd00::/8", "fd00::/8"},
	} {
		r, err := egress.ParseRule(tc.in)
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseRule(%q) = %q, %v; want %q", tc.in, r.String(), err, tc.want)
		}
	}
	for _, bad := range []string{"", " ", "http://x.example.com", "x.example.com:0", "x.example.com:70000", "x.example.com:http",
		"10.0.0.300", "10.0.0.0/33", "exa mple.com", "-x.example.com", "a..b", "fe80::1%eth0", "*.", "x.*.com", "a:b:c"} {
		if r, err := egress.ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) = %q, want an error", bad, r)
		}
	}
}

func TestInternal(t *testing.T) {
	for _, s := range []string{
		"127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fd12::1", "fc00::1",
		"100.64.0.1", "100.127.255.255", "169.254.169.254", "fe80::1", "0.0.0.0", "0.1.2.3", "::", "224.0.0.1", "239.1.1.1", "ff02::1",
		"255.255.255.255", "240.0.0.1", "192.0.0.1", "198.18.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::1", "2002:7f00:1::1", "2002:c0a8:101::1", "2001:0:4136:e378::1", "fec0::1",
	} {
		if !egress.Internal(netip.MustParseAddr(s)) {
			t.Errorf("%s is not internal", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"} {
		if egress.Internal(netip.MustParseAddr(s)) {
			t.Errorf("%s is internal", s)
		}
	}
}

func rules(t *testing.T, entries ...string) []egress.Rule {
	t.Helper()
	var rs []egress.Rule
	for _, e := range entries {
		r, err := egress.ParseRule(e)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestAllowed(t *testing.T) {
	p := &egress.Policy{Allow: rules(t, "artifacts.corp.example", "*.svc.example", "prom.corp.example:9090", "10.20.0.0/16", "10.9.9.9:443", "fd00::/8")}
	public, private := netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.1.1.1")
	for _, tc := range []struct {
		name string
		ip   netip.Addr
		port uint16
		want bool
	}{
		{"", public, 443, true},
		{"www.example.com", public, 80, true},
		{"", private, 443, false},
		{"evil.example.com", private, 443, false},
		{"artifacts.corp.example", private, 443, true},
		{"ARTIFACTS.corp.example.", private, 8080, true},
		{"a.svc.example", private, 1, true},
		{"a.b.svc.example", private, 1, true},
		{"svc.example", private, 1, false},
		{"prom.corp.example", private, 9090, true},
		{"prom.corp.example", private, 9091, false},
		{"", netip.MustParseAddr("10.20.5.6"), 22, true},
		{"anything.example", netip.MustParseAddr("10.20.5.6"), 22, true},
		{"", netip.MustParseAddr("10.21.5.6"), 22, false},
		{"", netip.MustParseAddr("10.9.9.9"), 443, true},
		{"", netip.MustParseAddr("10.9.9.9"), 444, false},
		{"", netip.MustParseAddr("::ffff:10.20.0.1"), 80, true},
		{"", netip.MustParseAddr("fd00::1"), 80, true},
		{"", netip.MustParseAddr("127.0.0.1"), 80, false},
	} {
		if got := p.Allowed(tc.name, tc.ip, tc.port); got != tc.want {
			t.Errorf("Allowed(%q, %s, %d) = %v, want %v", tc.name, tc.ip, tc.port, got, tc.want)
		}
	}
	strict := &egress.Policy{Allow: rules(t, "artifacts.example.com"), DenyPublic: true}
	if strict.Allowed("www.example.com", public, 443) || !strict.Allowed("artifacts.example.com", public, 443) {
		t.Error("allow_public: false does not make the policy an allow-list")
	}
}

// target is an HTTP server on loopback that counts the requests reaching it.
type target struct {
	*httptest.Server
	hits atomic.Int32
}

func newTarget(t *testing.T, h http.HandlerFunc) *target {
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) hostPort() string { return tg.Listener.Addr().String() }

func ok(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func get(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// innerError is the error under the *url.Error, whose text names the URL
// the caller asked for.
func innerError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func TestClientRefusesLoopbackWithOneErrorForOpenAndClosedPorts(t *testing.T) {
	open := newTarget(t, ok)
	c := (&egress.Policy{}).Client(0)
	_, errOpen := get(c, "http://"+open.hostPort()+"/x")
	_, errClosed := get(c, "http://"+closedAddr(t)+"/x")
	for _, err := range []error{errOpen, errClosed} {
		if !errors.Is(err, egress.ErrRefused) {
			t.Fatalf("loopback fetch: %v, want ErrRefused", err)
		}
	}
	if a, b := innerError(errOpen), innerError(errClosed); a != b {
		t.Fatalf("the refusal tells an open port from a closed one:\n open:   %s\n closed: %s", a, b)
	}
	if open.hits.Load() != 0 {
		t.Fatal("a refused destination was reached")
	}
}

func TestClientAllowsListedDestinations(t *testing.T) {
	tg := newTarget(t, ok)
	_, port, _ := net.SplitHostPort(tg.hostPort())
	for _, entry := range []string{"127.0.0.1", "127.0.0.1:" + port, "127.0.0.0/8"} {
		c := (&egress.Policy{Allow: rules(t, entry)}).Client(0)
		if body, err := get(c, tg.URL); err != nil || body != "ok" {
			t.Errorf("listed as %s: %q, %v", entry, body, err)
		}
	}
	// A rule for another port does not open this one.
	c := (&egress.Policy{Allow: rules(t, "127.0.0.1:1")}).Client(0)
	if _, err := get(c, tg.URL); !errors.Is(err, egress.ErrRefused) {
		t.Errorf("listed for port 1 only: %v", err)
	}
}

func TestClientChecksEveryRedirect(t *testing.T) {
	inner := newTarget(t, ok)
	outer := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/secret", http.StatusFound)
	})
	c := (&egress.Policy{Allow: rules(t, outer.hostPort())}).Client(0)
	if _, err := get(c, outer.URL); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("redirect to an unlisted loopback port: %v", err)
	}
	if outer.hits.Load() != 1 || inner.hits.Load() != 0 {
		t.Fatalf("hits: outer %d, inner %d", outer.hits.Load(), inner.hits.Load())
	}
}

// fakeDNS resolves the names it knows, and fails every other one.
func fakeDNS(names map[string][]string) func(context.Context, string, string) ([]netip.Addr, error) {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range names[strings.ToLower(host)] {
			out = append(out, netip.MustParseAddr(s))
		}
		if len(out) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
}

func TestClientChecksResolvedAddresses(t *testing.T) {
	tg := newTarget(t, ok)
	_, port, _ := net.SplitHostPort(tg.hostPort())
	dns := fakeDNS(map[string][]string{
		"rebind.example":  {"127.0.0.1"},
		"prom.corp.test":  {"127.0.0.1"},
		"mixed.corp.test": {"192.168.77.1", "127.0.0.1"},
	})
	// A public-looking name that resolves to loopback is refused.
	c := (&egress.Policy{LookupNetIP: dns}).Client(0)
	if _, err := get(c, "http://rebind.example:"+port+"/"); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("name resolving to loopback: %v", err)
	}
	// "localhost" is a name like any other: it resolves to loopback.
	if _, err := get((&egress.Policy{}).Client(0), "http://localhost:"+port+"/"); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("localhost: %v", err)
	}
	// A listed name is allowed whatever it resolves to.
	c = (&egress.Policy{LookupNetIP: dns, Allow: rules(t, "*.corp.test")}).Client(0)
	if body, err := get(c, "http://prom.corp.test:"+port+"/"); body != "ok" || err != nil {
		t.Fatalf("listed name: %q, %v", body, err)
	}
	// Of a name's addresses only the allowed ones are dialled: the
	// unlisted private one first in the answer is never tried (it would
	// not answer at all).
	c = (&egress.Policy{LookupNetIP: dns, Allow: rules(t, "127.0.0.1:"+port)}).Client(0)
	if body, err := get(c, "http://mixed.corp.test:"+port+"/"); body != "ok" || err != nil {
		t.Fatalf("mixed answer: %q, %v", body, err)
	}
	if tg.hits.Load() != 2 {
		t.Fatalf("%d requests reached the target, want 2", tg.hits.Load())
	}
}

func TestClientChecksTargetsThroughProxies(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		io.WriteString(w, "via proxy to "+r.Host)
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)
	dns := fakeDNS(map[string][]string{"www.public.test": {"93.184.216.34"}, "db.corp.test": {"10.0.0.7"}})
	viaProxy := func(*http.Request) (*url.URL, error) { return proxyURL, nil }

	// The proxy itself must be allowed: it is on loopback, so it is listed.
	c := (&egress.Policy{LookupNetIP: dns, Proxy: viaProxy, Allow: rules(t, proxyURL.Host)}).Client(0)
	if body, err := get(c, "http://www.public.test/file"); err != nil || body != "via proxy to www.public.test" {
		t.Fatalf("public target through the proxy: %q, %v", body, err)
	}
	// An internal target is refused before the proxy hears of it, by
	// address or by a name that resolves to one.
	for _, u := range []string{"http://" + closedAddr(t) + "/", "http://db.corp.test/", "http://[::1]:8080/"} {
		if _, err := get(c, u); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("%s through the proxy: %v", u, err)
		}
	}
	// A name that does not resolve here cannot be checked: refused, unless listed.
	if _, err := get(c, "http://unknown.corp.test/"); err == nil || errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), "egress policy") {
		t.Errorf("unresolvable target through the proxy: %v", err)
	}
	listed := (&egress.Policy{LookupNetIP: dns, Proxy: viaProxy, Allow: rules(t, proxyURL.Host, "unknown.corp.test")}).Client(0)
	if body, err := get(listed, "http://unknown.corp.test/"); err != nil || body != "via proxy to unknown.corp.test" {
		t.Errorf("listed unresolvable target through the proxy: %q, %v", body, err)
	}
	if proxied.Load() != 2 {
		t.Fatalf("the proxy got %d requests, want 2", proxied.Load())
	}
	// A proxy the policy does not allow is never dialled.
	unlisted := (&egress.Policy{LookupNetIP: dns, Proxy: viaProxy}).Client(0)
	if _, err := get(unlisted, "http://www.public.test/file"); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("unlisted proxy: %v", err)
	}
	if proxied.Load() != 2 {
		t.Fatal("an unlisted proxy was used")
	}
}

func TestRefusesLiteral(t *testing.T) {
	p := &egress.Policy{Allow: rules(t, "127.0.0.1:9000", "hooks.corp.test")}
	for u, want := range map[string]bool{
		"http://127.0.0.1:9000/hook":    false,
		"http://127.0.0.1:9001/hook":    true,
		"http://localhost:9000/hook":    false, // 127.0.0.1:9000 is listed
		"http://localhost:9001/hook":    true,
		"https://10.0.0.1/hook":         true,
		"https://hooks.slack.com/x":     false, // a name: judged when resolved
		"https://hooks.corp.test/x":     false,
		"http://[::1]/x":                true,
		"https://93.184.216.34/webhook": false,
	} {
		pu, _ := url.Parse(u)
		if got := p.RefusesLiteral(pu); got != want {
			t.Errorf("RefusesLiteral(%s) = %v, want %v", u, got, want)
		}
	}
}

// A failed lookup says what the user can act on — the host does not
// resolve, the lookup timed out or failed — and never the address of the
// server's DNS resolver, nor anything else of its network that the
// resolver's error carries. Context errors still match errors.Is.
func TestLookupErrorsNameNoResolver(t *testing.T) {
	const resolver = "10.255.255.53"
	fail := func(e *net.DNSError) func(context.Context, string, string) ([]netip.Addr, error) {
		return func(_ context.Context, _, host string) ([]netip.Addr, error) {
			e.Name, e.Server = host, resolver+":53"
			return nil, e
		}
	}
	for _, tc := range []struct {
		name string
		err  *net.DNSError
		want string
	}{
		{"not found", &net.DNSError{Err: "no such host", IsNotFound: true}, "host 0x7f.0.0.1 does not resolve"},
		{"timeout", &net.DNSError{Err: "i/o timeout", IsTimeout: true, IsTemporary: true}, "host 0x7f.0.0.1 cannot be resolved: the DNS lookup timed out"},
		{"misbehaving", &net.DNSError{Err: "server misbehaving", IsTemporary: true}, "host 0x7f.0.0.1 cannot be resolved: server misbehaving"},
		{"network", &net.DNSError{Err: "read udp 10.1.2.3:40000->" + resolver + ":53: read: connection refused"}, "host 0x7f.0.0.1 cannot be resolved: the DNS lookup failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &egress.Policy{LookupNetIP: fail(tc.err)}
			viaProxy := &egress.Policy{LookupNetIP: fail(tc.err), Proxy: func(*http.Request) (*url.URL, error) { return url.Parse("http://127.0.0.1:3128") }}
			for _, c := range []*http.Client{p.Client(0), viaProxy.Client(0)} {
				_, err := get(c, "http://0x7f.0.0.1/app.tar")
				if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), resolver) || strings.Contains(err.Error(), "10.1.2.3") {
					t.Errorf("err = %v, want %q and no resolver address", err, tc.want)
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&egress.Policy{LookupNetIP: fail(&net.DNSError{Err: "operation was canceled", UnwrapErr: context.Canceled})}).DialContext(ctx, "tcp", "build.example:80")
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), resolver) {
		t.Fatalf("canceled lookup: %v", err)
	}
}

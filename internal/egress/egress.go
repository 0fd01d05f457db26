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
	"strings"
)

// ErrRefused is the error of every refused destination. It names no
// address and says nothing of what listens there: a caller that shows it
// to a user adds only what that user asked for.
var ErrRefused = errors.New("refused by the server's egress policy: loopback, private, link-local and other internal destinations must be listed under egress.allow in the server config")

// Policy decides which destinations outgoing requests may reach. The zero
// Policy refuses internal destinations and allows public ones.
type Policy struct {
	// Allow lists destinations allowed even when they are internal.
	Allow []Rule
	// DenyPublic refuses public destinations too unless they are listed:
	// an allow-list-only policy (egress.allow_public: false).
	DenyPublic bool
	// LookupNetIP resolves names; nil means net.DefaultResolver. Tests
	// give names of their own.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// Proxy chooses the proxy of a request; nil means the environment's
	// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY).
	Proxy func(*http.Request) (*url.URL, error)
}

// Rule is one entry of egress.allow: a host name (or *.domain for every
// name under it), an IP address or a CIDR, the first two optionally with a
// port.
type Rule struct {
	// Host is a lower-case DNS name without a trailing dot, or
	// "*.example.com"; empty when the rule is an address or a CIDR.
	Host string
	// Prefix is the address (a /32 or /128) or CIDR of the rule.
	Prefix netip.Prefix
	// Port limits the rule to one port; 0 is any port.
	Port uint16
}

// ParseRule reads one egress.allow entry: "artifacts.example.com",
// "*.internal.example.com", "prometheus.internal:9090", "10.0.0.5",
// "10.0.0.5:9090", "[fd00::5]:9090", "10.20.0.0/16" or "fd00::/8".
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (Rule, error) {
		return Rule{}, fmt.Errorf("egress entry %q %s; use a host name, *.domain, an IP address or a CIDR, the first two optionally with :port", s, why)
	}
	if s == "" {
		return bad("is empty")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return bad("is not a valid CIDR")
		}
		return Rule{Prefix: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil && a.Zone() == "" {
		return Rule{Prefix: netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())}, nil
	}
	host, port := s, uint16(0)
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return bad("has a port that is not a number from 1 to 65535")
		}
		host, port = h, uint16(n)
	} else if strings.Contains(s, ":") {
		return bad("is not host:port")
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		return Rule{Prefix: netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), Port: port}, nil
	}
	name := normalName(host)
	if !validName(strings.TrimPrefix(name, "*.")) {
		return bad("is not a valid host name or IP address")
	}
	return Rule{Host: name, Port: port}, nil
}

// String gives the rule as it is written in the config.
func (r Rule) String() string {
	var s string
	switch {
	case r.Host != "":
		s = r.Host
	case r.Prefix.IsSingleIP():
		s = r.Prefix.Addr().String()
	default:
		return r.Prefix.String()
	}
	if r.Port == 0 {
		return s
	}
	return net.JoinHostPort(s, strconv.Itoa(int(r.Port)))
}

// matches reports whether the rule allows ip:port reached through name
// (empty when the destination was given as an address).
func (r Rule) matches(name string, ip netip.Addr, port uint16) bool {
	if r.Port != 0 && r.Port != port {
		return false
	}
	if r.Host != "" {
		return r.matchesName(name)
	}
	return r.Prefix.Contains(ip)
}

func (r Rule) matchesName(name string) bool {
	if name == "" || r.Host == "" {
		return false
	}
	if suffix, ok := strings.CutPrefix(r.Host, "*"); ok {
		return strings.HasSuffix(name, suffix) && len(name) > len(suffix)
	}
	return name == r.Host
}

// normalName lower-cases a host name and drops a trailing dot, so
// "Artifacts.Example.COM." and "artifacts.example.com" are one name.
func normalName(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// validName reports whether s is a DNS name of letters, digits, '-' and
// '_' whose last label is not all digits (that would be a bad address).
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	_, err := strconv.Atoi(labels[len(labels)-1])
	return err != nil
}

// Allowed reports whether the policy lets a connection reach ip:port when
// the request named the host name (empty when it named the address).
func (p *Policy) Allowed(name string, ip netip.Addr, port uint16) bool {
	ip = ip.Unmap().WithZone("")
	name = normalName(name)
	for _, r := range p.Allow {
		if r.matches(name, ip, port) {
			return true
		}
	}
	return !p.DenyPublic && !Internal(ip)
}

// listedName reports whether a rule allows the name at port whatever it
// resolves to.
func (p *Policy) listedName(name string, port uint16) bool {
	name = normalName(name)
	for _, r := range p.Allow {
		if r.Host != "" && (r.Port == 0 || r.Port == port) && r.matchesName(name) {
			return true
		}
	}
	return false
}

// internalPrefixes are the ranges the standard library's predicates do
// not cover: addresses that never reach the public internet, or that
// reach it only through a translation that embeds another address.
var internalPrefixes = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and the broadcast address
		"::/96",           // IPv4-compatible (deprecated), :: and ::1
		"100::/64",        // discard-only
		"64:ff9b:1::/48",  // local-use NAT64
		"2001::/32",       // Teredo: an obfuscated IPv4 address
		"2001:db8::/32",   // documentation
		"fec0::/10",       // site-local (deprecated)
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Internal reports whether ip is not a public unicast address: loopback,
// private (RFC 1918, ULA), CGNAT, link-local, unspecified, multicast,
// reserved, or an IPv6 address that embeds such an IPv4 address (NAT64,
// 6to4).
func Internal(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range internalPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return Internal(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(ip):
		return Internal(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return false
}

package client

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// UseTLS makes the client verify the server, and present a certificate
// if the configuration has one, with cfg.
func (c *Client) UseTLS(cfg *tls.Config) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	c.HTTPClient.Transport = t
}

// TransportError is a failure to talk to the server at all, for a reason
// that retrying will not change: plain HTTP against HTTPS or the reverse,
// a server certificate this client does not trust, a handshake the server
// refused. Its message says what to change.
type TransportError struct {
	Message string
	Err     error
}

func (e *TransportError) Error() string { return e.Message }
func (e *TransportError) Unwrap() error { return e.Err }

// RedactURL is s fit to print: a password in it is replaced by "xxxxx",
// as url.URL.Redacted does, even when s does not parse as a URL (a
// server URL without its scheme, with a bad host). Everything the client
// and the CLI say about a server URL passes through it.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Redacted()
	}
	// By hand: the authority is what lies between "scheme://" (if any) and
	// the first "/", "?" or "#"; its user information ends at its last "@".
	prefix, rest := "", s
	if i := strings.Index(s, "://"); i >= 0 {
		prefix, rest = s[:i+3], s[i+3:]
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return prefix + user + ":xxxxx" + rest[at:]
}

// transportError recognises the failures TransportError names in an
// error of http.Client.Do.
func transportError(base string, err error) error {
	base = RedactURL(base)
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &TransportError{Err: err, Message: "cannot reach shipgate server at " + base + ": connection refused (nothing listens there)"}
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return &TransportError{Err: err, Message: "the shipgate server at " + base + " speaks plain HTTP, not HTTPS; use " + withScheme(base, "http")}
	case errors.As(err, &unknownCA):
		return &TransportError{Err: err, Message: "the certificate of the shipgate server at " + base + " is not signed by an authority this client trusts; give the server's CA with --ca-cert FILE or $SHIPGATE_CA_CERT (" + err.Error() + ")"}
	case strings.Contains(err.Error(), "remote error: tls: "):
		// An alert from the server: crypto/tls does not export its type.
		_, alert, _ := strings.Cut(err.Error(), "remote error: tls: ")
		return &TransportError{Err: err, Message: "the shipgate server at " + base + " refused the TLS handshake (" + alert + "); an agent of a server that requires client certificates needs --client-cert and --client-key signed by the server's client CA"}
	}
	return nil
}

// plainToHTTPS recognises the answer net/http gives a plain HTTP request
// on an HTTPS port.
func plainToHTTPS(status int, u string, body []byte) error {
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte("Client sent an HTTP request to an HTTPS server")) {
		return nil
	}
	return &TransportError{Message: "the shipgate server at " + baseOf(u) + " speaks HTTPS; use " + withScheme(baseOf(u), "https")}
}

// baseOf is the scheme and host of a URL.
func baseOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Scheme + "://" + p.Host
}

// withScheme is base with another scheme.
func withScheme(base, scheme string) string {
	if _, rest, ok := strings.Cut(base, "://"); ok {
		return scheme + "://" + rest
	}
	return scheme + "://" + base
}

// checkBaseURL refuses a server URL the client cannot use, saying why:
// "localhost:8080" reads as the scheme "localhost", and Go's own message
// (unsupported protocol scheme "localhost") hides the missing http://.
func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		// url.Error quotes the URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
	}
	base = RedactURL(base)
	switch {
	case base == "":
		return &TransportError{Message: "no server URL given"}
	case !strings.Contains(base, "://"):
		return &TransportError{Message: fmt.Sprintf("the server URL %q has no scheme: use http://%s (or https://%s)", base, base, base)}
	case err != nil:
		return &TransportError{Err: err, Message: fmt.Sprintf("the server URL %q is not a URL: %v", base, err)}
	case u.Scheme != "http" && u.Scheme != "https":
		return &TransportError{Message: fmt.Sprintf("the server URL %q has the scheme %q: use http:// or https://", base, u.Scheme)}
	case u.Host == "":
		return &TransportError{Message: fmt.Sprintf("the server URL %q names no host", base)}
	}
	return nil
}

// notShipgate is the error for an answer that is not shipgate's: an HTML
// page, another service's JSON. err, if any, is why it could not be read.
func notShipgate(base string, status int, contentType string, err error) error {
	base = RedactURL(base)
	if contentType == "" {
		contentType = "no Content-Type"
	}
	mt, _, _ := strings.Cut(contentType, ";")
	return &TransportError{Err: err, Message: fmt.Sprintf("the server at %s did not answer like shipgate (HTTP %d %s)", base, status, strings.TrimSpace(mt))}
}

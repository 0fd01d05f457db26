package client

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"strings"
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

// transportError recognises the failures TransportError names in an
// error of http.Client.Do.
func transportError(base string, err error) error {
	var unknownCA x509.UnknownAuthorityError
	switch {
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

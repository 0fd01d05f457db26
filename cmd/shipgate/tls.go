package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
)

// serverTLS is the TLS configuration of `serve`, or nil without
// --tls-cert. With --tls-client-ca, clients may present a certificate,
// which must then verify against that CA; the API requires one of agents
// only (httpapi.Handler.RequireAgentCert), people keep using tokens.
func serverTLS(cfg ServeConfig, logger *slog.Logger) (*tls.Config, error) {
	if cfg.TLSCert == "" && cfg.TLSKey == "" {
		if cfg.TLSClientCA != "" {
			return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key: client certificates are checked by the TLS this server terminates")
		}
		return nil, nil
	}
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	kp := &keyPair{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, logger: logger}
	if _, err := kp.get(); err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	tc := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
	}
	if cfg.TLSClientCA != "" {
		pool, err := loadCAs(cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// clientTLS is the TLS configuration of the CLI and the agent: trust only
// the CA in caFile when one is given (else the system's roots), and
// present the certificate in certFile when one is given (an agent of a
// server with --tls-client-ca).
func clientTLS(caFile, certFile, keyFile string, logger *slog.Logger) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCAs(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		tc.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("--client-cert and --client-key go together")
		}
		kp := &keyPair{certFile: certFile, keyFile: keyFile, logger: logger}
		if _, err := kp.get(); err != nil {
			return nil, fmt.Errorf("--client-cert/--client-key: %w", err)
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return tc, nil
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// keyPair is a certificate and its key, read from their files again when
// either changes, so a renewed certificate is used from the next
// handshake on without a restart. A pair that does not load (a renewal
// half written) leaves the previous one in use.
type keyPair struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  [2]os.FileInfo // the files cert was read from
	refused [2]os.FileInfo // the files that last failed to load
}

func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var now [2]os.FileInfo
	for i, f := range []string{k.certFile, k.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			if k.cert != nil {
				return k.cert, nil
			}
			return nil, err
		}
		now[i] = fi
	}
	if k.cert != nil && (sameFiles(now, k.loaded) || sameFiles(now, k.refused)) {
		return k.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert == nil {
			return nil, err
		}
		k.refused = now
		k.logger.Warn("the changed certificate does not load; still using the previous one", "cert", k.certFile, "key", k.keyFile, "err", err)
		return k.cert, nil
	}
	if k.cert != nil {
		k.logger.Info("certificate reloaded", "cert", k.certFile)
	}
	k.cert, k.loaded = &cert, now
	return k.cert, nil
}

func sameFiles(a, b [2]os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil || !os.SameFile(a[i], b[i]) || !a[i].ModTime().Equal(b[i].ModTime()) || a[i].Size() != b[i].Size() {
			return false
		}
	}
	return true
}

// loopbackOnly reports whether a listener accepts connections from this
// host only.
func loopbackOnly(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

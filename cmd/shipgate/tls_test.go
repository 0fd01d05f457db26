package main

import (
	"bytes"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// A renewed certificate is served from the next handshake on; a renewal
// that does not load (a key not yet written) leaves the previous one.
func TestKeyPairReloadsChangedFiles(t *testing.T) {
	ca := testutil.NewCA(t, "reload")
	oldCert, oldKey := ca.Server("old", "127.0.0.1")
	newCert, newKey := ca.Server("new", "127.0.0.1")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	install := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		// As renewal tools do: write aside, then rename over.
		if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dst+".tmp", dst); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	kp := &keyPair{certFile: certFile, keyFile: keyFile, logger: slog.New(slog.NewTextHandler(&logs, nil))}
	subject := func() string {
		t.Helper()
		c, err := kp.get()
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	install(oldCert, certFile)
	install(oldKey, keyFile)
	if got := subject(); got != "old" {
		t.Fatalf("first load: %s", got)
	}
	install(newCert, certFile) // the key is not renewed yet
	if got := subject(); got != "old" {
		t.Fatalf("with a mismatched key: %s", got)
	}
	install(newKey, keyFile)
	if got := subject(); got != "new" {
		t.Fatalf("after renewal: %s", got)
	}
	if !bytes.Contains(logs.Bytes(), []byte("does not load")) || !bytes.Contains(logs.Bytes(), []byte("certificate reloaded")) {
		t.Fatalf("log:\n%s", logs.String())
	}
	// A missing file at start is an error, not an empty certificate.
	if _, err := (&keyPair{certFile: filepath.Join(dir, "nope"), keyFile: keyFile, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).get(); err == nil {
		t.Fatal("a missing certificate loaded")
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := parsePrefixes([]string{"127.0.0.1", "10.1.2.3/8", "::1", "::ffff:192.168.0.9", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	if strings.Join(s, " ") != "127.0.0.1/32 10.0.0.0/8 ::1/128 192.168.0.9/32 fd00::/8" {
		t.Fatalf("prefixes %v", s)
	}
	for _, bad := range []string{"", "proxy.internal", "10.0.0.0/40"} {
		if _, err := parsePrefixes([]string{bad}); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestServerTLSRefusesIncompleteSettings(t *testing.T) {
	ca := testutil.NewCA(t, "settings")
	cert, key := ca.Server("server", "127.0.0.1")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		cfg  ServeConfig
		want string
	}{
		{ServeConfig{TLSClientCA: ca.CertFile}, "--tls-client-ca needs --tls-cert and --tls-key"},
		{ServeConfig{TLSCert: cert}, "--tls-cert and --tls-key go together"},
		{ServeConfig{TLSCert: cert, TLSKey: cert}, "--tls-cert/--tls-key"},
		{ServeConfig{TLSCert: cert, TLSKey: key, TLSClientCA: key}, "--tls-client-ca: " + key + " holds no PEM certificate"},
	} {
		if _, err := serverTLS(tc.cfg, logger); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if tc, err := serverTLS(ServeConfig{}, logger); tc != nil || err != nil {
		t.Fatalf("no TLS settings: %v, %v", tc, err)
	}
}

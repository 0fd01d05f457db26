package main

import (
	"fmt"
	"os"

	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/evidence"
)

// signatureVerifier reads the key or trusted root the server config names
// for signature evidence; nil when none is configured (signature evidence
// is then refused). A file that cannot be read or parsed stops the server
// from starting: a verifier that silently verified nothing would be worse.
func signatureVerifier(c config.EvidenceSignature) (*evidence.SignatureVerifier, error) {
	if !c.Configured() {
		return nil, nil
	}
	var sc evidence.SignatureConfig
	read := func(path, what string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("evidence.signature.%s: %w", what, err)
		}
		return b, nil
	}
	var err error
	if c.PublicKey != "" {
		if sc.PublicKeyPEM, err = read(c.PublicKey, "public_key"); err != nil {
			return nil, err
		}
	} else {
		if sc.TrustedRootJSON, err = read(c.TrustedRoot, "trusted_root"); err != nil {
			return nil, err
		}
		sc.Identity, sc.Issuer = c.Identity, c.Issuer
	}
	v, err := evidence.NewSignatureVerifier(sc)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s%s)", err, c.PublicKey, c.TrustedRoot)
	}
	return v, nil
}

// Package sigtest makes Sigstore bundles for tests, offline: a local key
// pair signs bytes into a bundle with neither a certificate nor a
// transparency log entry, the kind evidence.SignatureVerifier checks
// against a configured public key.
package sigtest

import (
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// Signer is a fresh ECDSA P-256 key pair.
type Signer struct {
	key *sign.EphemeralKeypair
}

// New generates a key pair.
func New() (*Signer, error) {
	k, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	return &Signer{key: k}, nil
}

// PublicKeyPEM is the key to configure as evidence.signature.public_key.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	p, err := s.key.GetPublicKeyPem()
	return []byte(p), err
}

// Bundle signs artifact (its sha256 is the bundle's message digest) and
// returns the bundle as JSON, as cosign sign-blob --bundle writes it.
func (s *Signer) Bundle(artifact []byte) ([]byte, error) {
	b, err := sign.Bundle(&sign.PlainData{Data: artifact}, s.key, sign.BundleOptions{})
	if err != nil {
		return nil, err
	}
	return protojson.Marshal(b)
}

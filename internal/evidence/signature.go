package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// SignatureConfig is what a server verifies Sigstore bundles against
// (server config evidence.signature): a public key, or a Sigstore trusted
// root with the certificate identity signatures must come from. Everything
// is local: verification never contacts Fulcio, Rekor or a TUF mirror.
type SignatureConfig struct {
	// PublicKeyPEM is a PEM public key (ECDSA, Ed25519 or RSA) that signs
	// artifacts, e.g. `cosign generate-key-pair`'s cosign.pub.
	PublicKeyPEM []byte
	// TrustedRootJSON is a Sigstore trusted_root.json (Fulcio CAs, Rekor
	// logs, timestamp authorities), for keyless signatures.
	TrustedRootJSON []byte
	// Identity and Issuer are the certificate identity a keyless
	// signature must carry (the SAN, e.g. a workflow URL or an email, and
	// the OIDC issuer). Both are required with TrustedRootJSON: a Fulcio
	// certificate of anybody at all proves nothing.
	Identity string
	Issuer   string
}

// SignatureVerifier verifies Sigstore bundles offline. Create it with
// NewSignatureVerifier.
type SignatureVerifier struct {
	verifier *verify.Verifier
	policy   []verify.PolicyOption
	mode     string
	keyID    string
}

// NewSignatureVerifier checks c and builds its verifier.
//
// With a public key, bundles carry neither a transparency log entry nor a
// timestamp (cosign sign-blob --key … --tlog-upload=false, or sigstore-go's
// sign package without Rekor), so the verifier is built with
// WithNoObserverTimestamps: the signature is checked against the key with
// no claim about when it was made. A key has no expiry to check that time
// against, so nothing is lost; rotate by changing the configured key.
//
// With a trusted root, bundles must carry a Rekor entry (inclusion checked
// offline against the root's log keys) that times the short-lived Fulcio
// certificate, and the certificate must name Identity and Issuer.
func NewSignatureVerifier(c SignatureConfig) (*SignatureVerifier, error) {
	switch {
	case len(c.PublicKeyPEM) > 0 && len(c.TrustedRootJSON) > 0:
		return nil, fmt.Errorf("evidence.signature: give public_key or trusted_root, not both")
	case len(c.PublicKeyPEM) > 0:
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(c.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("evidence.signature.public_key: %w", err)
		}
		sv, err := signature.LoadDefaultVerifier(pub)
		if err != nil {
			return nil, fmt.Errorf("evidence.signature.public_key: %w", err)
		}
		der, err := cryptoutils.MarshalPublicKeyToDER(pub)
		if err != nil {
			return nil, fmt.Errorf("evidence.signature.public_key: %w", err)
		}
		sum := sha256.Sum256(der)
		key := root.NewExpiringKey(sv, timeZero, timeZero)
		// Any hint names the one configured key: a wrong key fails the
		// signature check itself.
		material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
		v, err := verify.NewVerifier(material, verify.WithNoObserverTimestamps())
		if err != nil {
			return nil, err
		}
		return &SignatureVerifier{verifier: v, policy: []verify.PolicyOption{verify.WithKey()}, mode: "key", keyID: "sha256:" + hex.EncodeToString(sum[:])}, nil
	case len(c.TrustedRootJSON) > 0:
		if c.Identity == "" || c.Issuer == "" {
			return nil, fmt.Errorf("evidence.signature: trusted_root needs identity and issuer (who must have signed)")
		}
		tr, err := root.NewTrustedRootFromJSON(c.TrustedRootJSON)
		if err != nil {
			return nil, fmt.Errorf("evidence.signature.trusted_root: %w", err)
		}
		return newCertificateVerifier(tr, c.Identity, c.Issuer)
	}
	return nil, fmt.Errorf("evidence.signature: give public_key or trusted_root")
}

// newCertificateVerifier verifies keyless signatures: a certificate of
// material's CAs naming identity and issuer, timed by a transparency log
// entry (and with a certificate timestamp where material has CT logs).
func newCertificateVerifier(material root.TrustedMaterial, identity, issuer string) (*SignatureVerifier, error) {
	opts := []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1)}
	if len(material.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(material, opts...)
	if err != nil {
		return nil, fmt.Errorf("evidence.signature.trusted_root: %w", err)
	}
	id, err := verify.NewShortCertificateIdentity(issuer, "", identity, "")
	if err != nil {
		return nil, fmt.Errorf("evidence.signature: %w", err)
	}
	return &SignatureVerifier{verifier: v, policy: []verify.PolicyOption{verify.WithCertificateIdentity(id)}, mode: "certificate"}, nil
}

// Verify checks a Sigstore bundle (JSON) against the configured key or
// root, for the artifact whose sha256 is artifactSHA256 (hex): a bundle
// signing other bytes is refused, however valid its signature. It returns
// the summary stored with the evidence.
func (s *SignatureVerifier) Verify(name string, data []byte, artifactSHA256 string) (map[string]any, error) {
	if s == nil {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server verifies no signatures: configure evidence.signature (public_key or trusted_root) in its config file")
	}
	digest, err := hex.DecodeString(artifactSHA256)
	if err != nil || len(digest) != sha256.Size {
		return nil, shipgate.Errorf(shipgate.EINVALID, "the release's artifact digest %q is not a sha256", artifactSHA256)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, shipgate.Errorf(shipgate.EINVALID, "%s is not a valid signature file: not a Sigstore bundle: %s", name, oneLine(err.Error()))
	}
	return s.verifyEntity(name, &b, artifactSHA256, digest)
}

func (s *SignatureVerifier) verifyEntity(name string, entity verify.SignedEntity, artifactSHA256 string, digest []byte) (map[string]any, error) {
	res, err := s.verifier.Verify(entity, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), s.policy...))
	if err != nil {
		return nil, shipgate.Errorf(shipgate.EINVALID, "signature %s does not verify for the release's artifact sha256:%s: %s", name, artifactSHA256, oneLine(err.Error()))
	}
	sum := map[string]any{"verified": true, "subject_sha256": artifactSHA256, "mode": s.mode}
	if s.keyID != "" {
		sum["key_id"] = s.keyID
	}
	if res.VerifiedIdentity != nil {
		sum["identity"] = res.VerifiedIdentity.SubjectAlternativeName.SubjectAlternativeName
		sum["issuer"] = res.VerifiedIdentity.Issuer.Issuer
	}
	if res.Statement != nil {
		sum["predicate_type"] = res.Statement.GetPredicateType()
	}
	return sum, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

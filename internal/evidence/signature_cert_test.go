package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

type noCTLogs struct{ *ca.VirtualSigstore }

func (noCTLogs) CTLogs() map[string]*root.TransparencyLog { return nil }

// TestCertificateSignature checks keyless mode offline against a virtual
// Sigstore (a Fulcio CA, a Rekor log and a TSA made in the test): the
// certificate must name the configured identity and issuer, and the
// signature must be for the release's artifact.
func TestCertificateSignature(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	const identity, issuer = "https://github.com/shop/api/.github/workflows/release.yml@refs/heads/main", "https://token.actions.githubusercontent.com"
	// Its leaf certificates carry no SCTs, as a private Fulcio without a
	// CT log issues them; with CT logs in the root they are required.
	v, err := newCertificateVerifier(noCTLogs{vs}, identity, issuer)
	if err != nil {
		t.Fatal(err)
	}
	artifact := []byte("shop-api 1.4.2")
	sum := sha256.Sum256(artifact)
	entity, err := vs.Sign(identity, issuer, artifact)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.verifyEntity("b.json", entity, hex.EncodeToString(sum[:]), sum[:])
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got["mode"] != "certificate" || got["identity"] != identity || got["issuer"] != issuer || got["verified"] != true {
		t.Errorf("summary %v", got)
	}

	other := sha256.Sum256([]byte("another build"))
	if _, err := v.verifyEntity("b.json", entity, hex.EncodeToString(other[:]), other[:]); err == nil || !strings.Contains(err.Error(), "does not verify for the release's artifact") {
		t.Errorf("another digest: %v", err)
	}
	stranger, _ := vs.Sign("mallory@example.com", issuer, artifact)
	if _, err := v.verifyEntity("b.json", stranger, hex.EncodeToString(sum[:]), sum[:]); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("another identity: %v", err)
	}
}

func TestCertificateSignatureNeedsSCTsWhereTheRootHasCTLogs(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	v, err := newCertificateVerifier(vs, "me@example.com", "https://issuer.example.com")
	if err != nil {
		t.Fatal(err)
	}
	artifact := []byte("x")
	sum := sha256.Sum256(artifact)
	entity, _ := vs.Sign("me@example.com", "https://issuer.example.com", artifact)
	if _, err := v.verifyEntity("b.json", entity, hex.EncodeToString(sum[:]), sum[:]); err == nil || !strings.Contains(err.Error(), "signed certificate timestamp") {
		t.Errorf("a certificate without SCTs: %v", err)
	}
}

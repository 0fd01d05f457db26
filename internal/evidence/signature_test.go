package evidence_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/evidence"
	"github.com/shipgate/shipgate/internal/evidence/sigtest"
)

func TestSignatureVerifiesOnlyTheReleaseDigest(t *testing.T) {
	signer, err := sigtest.New()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := signer.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	v, err := evidence.NewSignatureVerifier(evidence.SignatureConfig{PublicKeyPEM: pem})
	if err != nil {
		t.Fatal(err)
	}
	artifact := []byte("shop-api 1.4.2 binary")
	sum := sha256.Sum256(artifact)
	digest := hex.EncodeToString(sum[:])
	bundle, err := signer.Bundle(artifact)
	if err != nil {
		t.Fatal(err)
	}

	got, err := v.Verify("shop.sigstore.json", bundle, digest)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got["verified"] != true || got["subject_sha256"] != digest || got["mode"] != "key" || !strings.HasPrefix(got["key_id"].(string), "sha256:") {
		t.Errorf("summary %v", got)
	}

	other := sha256.Sum256([]byte("another build"))
	_, err = v.Verify("shop.sigstore.json", bundle, hex.EncodeToString(other[:]))
	if err == nil || shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "signature shop.sigstore.json does not verify for the release's artifact sha256:"+hex.EncodeToString(other[:])) {
		t.Errorf("a bundle for another digest: %v", err)
	}

	// Signed by another key: refused though the bundle is well formed.
	stranger, _ := sigtest.New()
	forged, _ := stranger.Bundle(artifact)
	if _, err := v.Verify("forged.json", forged, digest); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("a bundle of another key: %v", err)
	}

	if _, err := v.Verify("x.json", []byte(`{"mediaType": "nope"}`), digest); err == nil || !strings.Contains(err.Error(), "x.json is not a valid signature file: not a Sigstore bundle") {
		t.Errorf("garbage: %v", err)
	}
	var none *evidence.SignatureVerifier
	if _, err := none.Verify("x.json", bundle, digest); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "configure evidence.signature") {
		t.Errorf("unconfigured: %v", err)
	}
}

func TestSignatureConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		c    evidence.SignatureConfig
		want string
	}{
		{evidence.SignatureConfig{}, "give public_key or trusted_root"},
		{evidence.SignatureConfig{PublicKeyPEM: []byte("x"), TrustedRootJSON: []byte("{}")}, "not both"},
		{evidence.SignatureConfig{PublicKeyPEM: []byte("not pem")}, "evidence.signature.public_key"},
		{evidence.SignatureConfig{TrustedRootJSON: []byte("{}")}, "needs identity and issuer"},
		{evidence.SignatureConfig{TrustedRootJSON: []byte("{}"), Identity: "a", Issuer: "b"}, "evidence.signature.trusted_root"},
	} {
		if _, err := evidence.NewSignatureVerifier(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.c, err, tc.want)
		}
	}
}

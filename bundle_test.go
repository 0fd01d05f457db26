package shipgate_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// The DSSE specification's example: PAE("http://example.com/HelloWorld",
// "hello world").
func TestDSSEPAE(t *testing.T) {
	got := string(shipgate.DSSEPAE("http://example.com/HelloWorld", []byte("hello world")))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; got != want {
		t.Fatalf("PAE %q, want %q", got, want)
	}
	if got := string(shipgate.DSSEPAE("", nil)); got != "DSSEv1 0  0 " {
		t.Fatalf("empty PAE %q", got)
	}
}

func TestSignDSSE(t *testing.T) {
	s, _ := shipgate.NewAuditSigner(make([]byte, shipgate.AuditSigningKeySize))
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	env := s.SignDSSE(shipgate.InTotoPayloadType, payload)
	if env.PayloadType != shipgate.InTotoPayloadType || env.Payload != base64.StdEncoding.EncodeToString(payload) || len(env.Signatures) != 1 || env.Signatures[0].KeyID != s.PublicKey().ID() {
		t.Fatalf("envelope %+v", env)
	}
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if !ed25519.Verify(s.PublicKey().Ed25519(), shipgate.DSSEPAE(shipgate.InTotoPayloadType, payload), sig) || !s.PublicKey().VerifyDSSE(shipgate.InTotoPayloadType, payload, sig) {
		t.Fatal("signature does not verify")
	}
	// The payload type is signed: the same bytes under another type fail,
	// and a checkpoint signature is no DSSE signature.
	if s.PublicKey().VerifyDSSE("application/json", payload, sig) {
		t.Fatal("verified under another payload type")
	}
	cp := s.Sign(1, shipgate.GenesisHash, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cs, _ := base64.StdEncoding.DecodeString(cp.Signature)
	if s.PublicKey().VerifyDSSE(shipgate.InTotoPayloadType, cp.SignedMessage(), cs) {
		t.Fatal("a checkpoint signature verified as DSSE")
	}
}

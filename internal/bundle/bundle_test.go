package bundle_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/bundle"
)

func TestSubjectName(t *testing.T) {
	for _, tc := range []struct{ loc, want string }{
		{"/srv/builds/shop-1.4.tar.gz", "shop-1.4.tar.gz"},
		{"https://cdn.example.com/shop/shop-1.4.tar?sig=abc#x", "shop-1.4.tar"},
		{`C:\builds\shop.zip`, "shop.zip"},
		{"", "shop-1.4"},
		{"/", "shop-1.4"},
	} {
		r := &shipgate.Release{}
		r.Service, r.Version, r.Artifact.Location = "shop", "1.4", tc.loc
		if got := bundle.SubjectName(r); got != tc.want {
			t.Errorf("SubjectName(%q) = %q, want %q", tc.loc, got, tc.want)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestReadAndVerifyRefuseBadFiles(t *testing.T) {
	if _, err := bundle.Read(io.LimitReader(zeros{}, bundle.MaxBytes+1)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
	if b, err := bundle.Read(strings.NewReader("{}\n")); err != nil || !bytes.Equal(b, []byte("{}\n")) {
		t.Errorf("small file: %q %v", b, err)
	}
	s, _ := shipgate.NewAuditSigner(make([]byte, shipgate.AuditSigningKeySize))
	keys := []shipgate.AuditPublicKey{s.PublicKey()}
	if _, err := bundle.Verify([]byte("{}\n"), nil); err == nil || !strings.Contains(err.Error(), "no public key") {
		t.Errorf("no key: %v", err)
	}
	for in, want := range map[string]string{
		"":                  "not a DSSE envelope",
		"not json":          "not a DSSE envelope",
		`{"payloadType":1}`: "not a DSSE envelope",
		`{"extra":"field"}`: "not a DSSE envelope",
		`{"payloadType":"x","payload":"","signatures":[]}` + "\n":                                                                                   "payloadType is",
		`{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":[]}` + "\n":                                                        "has 0 signatures",
		`{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":[{"keyid":"","sig":""}]}` + "\n":                                   "signed by key (unnamed)",
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"` + s.PublicKey().ID() + `","sig":"AAAA"}]}` + "\n": "does not verify",
	} {
		if _, err := bundle.Verify([]byte(in), keys); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(shipgate.ErrorMessage(err), "bundle rejected") {
			t.Errorf("Verify(%q): %v, want %q", in, err, want)
		}
	}
	// Signed, but not a statement.
	env := s.SignDSSE(shipgate.InTotoPayloadType, []byte(`{"hello":"world"}`))
	b := []byte(`{"payloadType":"` + env.PayloadType + `","payload":"` + env.Payload + `","signatures":[{"keyid":"` + env.Signatures[0].KeyID + `","sig":"` + env.Signatures[0].Sig + `"}]}` + "\n")
	if _, err := bundle.Verify(b, keys); err == nil || !strings.Contains(err.Error(), "not a shipgate release statement") {
		t.Errorf("a signed non-statement: %v", err)
	}
}

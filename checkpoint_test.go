package shipgate_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

func signer(t *testing.T, b byte) *shipgate.AuditSigner {
	t.Helper()
	seed := make([]byte, shipgate.AuditSigningKeySize)
	seed[0] = b
	s, err := shipgate.NewAuditSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The signed bytes are documented so that anyone can verify a checkpoint
// without shipgate; they must never change silently.
func TestCheckpointSignedMessage(t *testing.T) {
	s := signer(t, 1)
	cp := s.Sign(42, strings.Repeat("ab", 32), time.Date(2026, 3, 2, 10, 0, 0, 123456789, time.FixedZone("x", 3600)))
	want := "shipgate audit checkpoint v1\nseq 42\nhash " + strings.Repeat("ab", 32) + "\nat 2026-03-02T09:00:00.123456Z\n"
	if got := string(cp.SignedMessage()); got != want {
		t.Fatalf("signed message:\n%q\nwant\n%q", got, want)
	}
	// The JSON carries the time as signed.
	if j, _ := json.Marshal(cp); !strings.Contains(string(j), `"at":"2026-03-02T09:00:00.123456Z"`) {
		t.Fatalf("json %s", j)
	}
	// A plain ed25519 verification of those bytes with the PEM key works.
	block, _ := pem.Decode([]byte(s.PublicKey().PEM()))
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(cp.Signature)
	if !ed25519.Verify(k.(ed25519.PublicKey), []byte(want), sig) {
		t.Fatal("signature does not verify with a plain ed25519 tool")
	}
}

func TestAuditPublicKeyForms(t *testing.T) {
	s := signer(t, 2)
	text := s.PublicKey().String()
	if !strings.HasPrefix(text, "ed25519:") || len(s.PublicKey().ID()) != 16 {
		t.Fatalf("key %q id %q", text, s.PublicKey().ID())
	}
	for _, in := range []string{text, "  " + text + "\n", s.PublicKey().PEM()} {
		k, err := shipgate.ParseAuditPublicKey(in)
		if err != nil || k.String() != text {
			t.Fatalf("parse %q: %v %v", in, k, err)
		}
	}
	for _, bad := range []string{"", "ed25519:", "ed25519:AAAA", "rsa:" + strings.TrimPrefix(text, "ed25519:"), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := shipgate.ParseAuditPublicKey(bad); shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := shipgate.NewAuditSigner([]byte("short")); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("short seed: %v", err)
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	s, other := signer(t, 3), signer(t, 4)
	keys := []shipgate.AuditPublicKey{s.PublicKey()}
	cp := s.Sign(7, strings.Repeat("0f", 32), time.Now())
	if err := shipgate.VerifyCheckpoint(&cp, keys); err != nil {
		t.Fatal(err)
	}
	// Either of two keys (a rotation) will do.
	if err := shipgate.VerifyCheckpoint(&cp, []shipgate.AuditPublicKey{other.PublicKey(), s.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		edit func(*shipgate.AuditCheckpoint)
		want string
	}{
		"hash":       {func(c *shipgate.AuditCheckpoint) { c.Hash = strings.Repeat("1f", 32) }, "altered after signing"},
		"seq":        {func(c *shipgate.AuditCheckpoint) { c.Seq = 8 }, "altered after signing"},
		"time":       {func(c *shipgate.AuditCheckpoint) { c.At = c.At.Add(time.Microsecond) }, "altered after signing"},
		"signature":  {func(c *shipgate.AuditCheckpoint) { c.Signature = "bm9wZQ==" }, "altered after signing"},
		"other key":  {func(c *shipgate.AuditCheckpoint) { *c = other.Sign(c.Seq, c.Hash, c.At) }, "signed by key " + other.PublicKey().ID() + ", not by " + s.PublicKey().ID()},
		"renamed id": {func(c *shipgate.AuditCheckpoint) { *c = other.Sign(c.Seq, c.Hash, c.At); c.KeyID = s.PublicKey().ID() }, "altered after signing"},
	} {
		bad := cp
		c.edit(&bad)
		if err := shipgate.VerifyCheckpoint(&bad, keys); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestParseAuditCheckpoints(t *testing.T) {
	s := signer(t, 5)
	a := s.Sign(1, strings.Repeat("aa", 32), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := s.Sign(2, strings.Repeat("bb", 32), time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC))
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	cloud, _ := json.Marshal(map[string]any{"specversion": "1.0", "type": "dev.shipgate.audit.checkpoint.v1", "id": "x", "source": "s", "data": b})
	for name, in := range map[string]string{
		"object":      string(ja),
		"json lines":  string(ja) + "\n" + string(jb) + "\n",
		"array":       "[" + string(ja) + ",\n" + string(jb) + "]",
		"cloudevents": string(ja) + "\n" + string(cloud) + "\n",
	} {
		got, err := shipgate.ParseAuditCheckpoints(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got[0] != a || (len(got) == 2 && got[1] != b) {
			t.Fatalf("%s: %+v", name, got)
		}
		if err := shipgate.VerifyCheckpoint(&got[len(got)-1], []shipgate.AuditPublicKey{s.PublicKey()}); err != nil {
			t.Fatalf("%s: parsed checkpoint does not verify: %v", name, err)
		}
	}
	for name, in := range map[string]string{
		"empty":         "",
		"not json":      "seq=1",
		"unknown field": `{"seq":1,"hash":"` + strings.Repeat("aa", 32) + `","at":"2026-01-01T00:00:00Z","signature":"x","extra":1}`,
		"no signature":  `{"seq":1,"hash":"` + strings.Repeat("aa", 32) + `","at":"2026-01-01T00:00:00Z"}`,
		"short hash":    `{"seq":1,"hash":"aa","at":"2026-01-01T00:00:00Z","signature":"x"}`,
	} {
		if _, err := shipgate.ParseAuditCheckpoints(strings.NewReader(in)); shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAuditVerifierAnchors(t *testing.T) {
	s := signer(t, 6)
	keys := []shipgate.AuditPublicKey{s.PublicKey()}
	good := chain(10)
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	cps := []shipgate.AuditCheckpoint{s.Sign(9, good[8].Hash, at), s.Sign(3, good[2].Hash, at), s.Sign(0, shipgate.GenesisHash, at), s.Sign(3, good[2].Hash, at.Add(time.Hour))}
	run := func(events []shipgate.AuditEvent, cps []shipgate.AuditCheckpoint) (shipgate.AuditVerification, error) {
		var v shipgate.AuditVerifier
		if err := v.Anchor(keys, cps); err != nil {
			return v.Verification(), err
		}
		for i := range events {
			if err := v.Add(&events[i]); err != nil {
				return v.Verification(), err
			}
		}
		last := events[len(events)-1]
		return v.Verification(), v.Finish(last.Seq, last.Hash)
	}
	r, err := run(good, cps)
	if err != nil || r.Checkpoints != 3 || r.Newest.Seq != 9 || r.HeadSeq != 10 || r.HeadHash != good[9].Hash || r.Events != 10 {
		t.Fatalf("%+v %v", r, err)
	}

	// Rewrite seq 5 and recompute everything after it: the chain is
	// consistent, the checkpoint of seq 9 is not.
	forged := chain(10)
	forged[4].Actor = "mallory"
	for i := 4; i < len(forged); i++ {
		if i > 0 {
			forged[i].PrevHash = forged[i-1].Hash
		}
		forged[i].Hash, _ = forged[i].ComputeHash()
	}
	if err := verifyChain(forged, 10, forged[9].Hash); err != nil {
		t.Fatalf("the forged chain should be consistent: %v", err)
	}
	if _, err := run(forged, cps); err == nil || !strings.Contains(err.Error(), "audit chain broken at seq 9:") || !strings.Contains(err.Error(), "between seq 4 and 9 (the checkpoint of seq 3 still holds)") {
		t.Fatalf("rewrite: %v", err)
	}
	// Truncated and the head moved back: the checkpoint of seq 9 is past
	// the end.
	if _, err := run(good[:6], cps); err == nil || !strings.Contains(err.Error(), "audit chain broken at seq 7: events were removed or renumbered: the log ends at seq 6") {
		t.Fatalf("truncation: %v", err)
	}
	// The key signed two histories.
	twice := append(cps, s.Sign(9, forged[8].Hash, at))
	if _, err := run(good, twice); err == nil || !strings.Contains(err.Error(), "disagree about seq 9") {
		t.Fatalf("two histories: %v", err)
	}
	// Resuming from a checkpoint verifies only what follows it.
	var v shipgate.AuditVerifier
	v.Resume(good[5].Seq, good[5].Hash)
	for i := 6; i < 10; i++ {
		if err := v.Add(&good[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Finish(10, good[9].Hash); err != nil || v.Count() != 4 {
		t.Fatalf("resume: %d %v", v.Count(), err)
	}
}

// An archive of webhook bodies from a sink that gets every event holds
// other events besides checkpoints: they are skipped and counted, while
// anything that is not JSON, not a CloudEvent nor a checkpoint, or a
// checkpoint event that is malformed, is refused with its line.
func TestReadCheckpointArchive(t *testing.T) {
	s := signer(t, 7)
	a := s.Sign(4, strings.Repeat("cc", 32), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cdevent := func(typ string, content any) string {
		b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "e", "source": "shipgate/host", "type": typ,
			"data": map[string]any{"context": map[string]any{"type": typ}, "subject": map[string]any{"id": "x", "content": content}}})
		return string(b)
	}
	release := cdevent("dev.cdevents.pipelinerun.queued.0.2.0", map[string]any{"pipelineName": "shop", "url": "http://x"})
	cp := cdevent(shipgate.AuditCheckpointEventType, a)
	got, err := shipgate.ReadAuditCheckpoints(strings.NewReader(release + "\n" + cp + "\n" + release + "\n"))
	if err != nil || len(got.Checkpoints) != 1 || got.Checkpoints[0] != a || got.Skipped != 2 {
		t.Fatalf("archive: %+v, %v", got, err)
	}
	if cps, err := shipgate.ParseAuditCheckpoints(strings.NewReader(release + "\n" + cp + "\n")); err != nil || len(cps) != 1 {
		t.Fatalf("ParseAuditCheckpoints of an archive: %v %v", cps, err)
	}
	for name, tt := range map[string]struct{ in, want string }{
		"not json":             {cp + "\n" + release + "\nseq=1\n", "line 3 is not JSON"},
		"malformed checkpoint": {release + "\n" + cdevent(shipgate.AuditCheckpointEventType, map[string]any{"seq": 1}) + "\n", "line 2: not a checkpoint"},
		"neither":              {cp + "\n" + `{"hello": "world"}` + "\n", "line 2: not a checkpoint"},
		"event without type":   {cp + "\n\n" + `{"specversion": "1.0", "id": "x", "data": {}}` + "\n", "line 3: a CloudEvent without a type"},
		"only other events":    {release + "\n" + release + "\n", "holds no checkpoint (skipped 2 other events;"},
	} {
		_, err := shipgate.ReadAuditCheckpoints(strings.NewReader(tt.in))
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want %q", name, err, tt.want)
		}
	}
}

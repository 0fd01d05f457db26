package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/bundle"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func signerFrom(t *testing.T, b byte) *shipgate.AuditSigner {
	t.Helper()
	seed := make([]byte, shipgate.AuditSigningKeySize)
	seed[0] = b
	s, err := shipgate.NewAuditSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bundledRelease is a running release with evidence, and its bundle as
// a reader downloads it.
func bundledRelease(t *testing.T) (f *fixture, id int64, key shipgate.AuditPublicKey, data []byte) {
	t.Helper()
	f, _, _, k := pinnedFixture(t, "sqlite")
	id = k.ReleaseID
	viewer := f.client("viewer")
	if _, err := viewer.ReleaseBundle(ctx, id); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "no audit signing key") {
		t.Fatalf("without a key: %v", err)
	}
	f.h.AuditSigner = signerFrom(t, 7)
	if _, _, err := f.client("carol").AddEvidence(ctx, id, client.EvidenceFile{Type: "coverage", Name: "cover.out", Content: []byte(coverprofile)}); err != nil {
		t.Fatal(err)
	}
	data, err := viewer.ReleaseBundle(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return f, id, f.h.AuditSigner.PublicKey(), data
}

func TestReleaseBundleVerifies(t *testing.T) {
	f, id, key, data := bundledRelease(t)
	rep, err := bundle.Verify(data, []shipgate.AuditPublicKey{key})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReleaseID != id || rep.Service != "web" || rep.Environment != "staging" || rep.Evidence != 1 || !rep.Covered ||
		rep.AuditEvents < 3 || rep.KeyID != key.ID() || !strings.HasPrefix(rep.Artifact, "sha256:") || rep.Subject != "app.tar" {
		t.Errorf("report %+v", rep)
	}
	if rep.CheckpointSeq != f.head(t) || rep.LastSeq != rep.CheckpointSeq {
		t.Errorf("checkpoint seq %d, chain to %d, head %d: want the head signed on demand", rep.CheckpointSeq, rep.LastSeq, f.head(t))
	}
	text := rep.Text()
	for _, want := range []string{"OK: release " + itoa(id) + " of web 1 → staging", "1 evidence items", "chained into checkpoint seq", key.ID()} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	// Asking again without new events reuses the covering checkpoint.
	again, err := f.client("viewer").ReleaseBundle(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rep2, err := bundle.Verify(again, []shipgate.AuditPublicKey{key})
	if err != nil || rep2.CheckpointSeq != rep.CheckpointSeq {
		t.Fatalf("again: %+v %v", rep2, err)
	}
	if _, err := bundle.Verify(data, []shipgate.AuditPublicKey{signerFrom(t, 8).PublicKey()}); err == nil || !strings.Contains(err.Error(), "signed by key "+key.ID()+", not by the given key") {
		t.Errorf("another key: %v", err)
	}
	if _, err := f.client("viewer").ReleaseBundle(ctx, 999); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Errorf("no such release: %v", err)
	}
	if status, _ := f.raw(t, "GET", "/api/v1/releases/1/bundle", "", nil); status != 401 {
		t.Errorf("anonymous: %d", status)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestReleaseBundleIndependentDSSE checks the signature with another
// implementation of DSSE (go-securesystemslib), reading the key from its PEM.
func TestReleaseBundleIndependentDSSE(t *testing.T) {
	_, _, key, data := bundledRelease(t)
	sslKey, err := signerverifier.LoadKey([]byte(key.PEM()))
	if err != nil {
		t.Fatal(err)
	}
	sslKey.KeyID = key.ID() // the envelope names the key by shipgate's id
	v, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(sslKey)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := dsse.NewEnvelopeVerifier(v)
	if err != nil {
		t.Fatal(err)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	accepted, payload, err := ev.VerifyAndDecode(ctx, &env)
	if err != nil || len(accepted) != 1 || accepted[0].KeyID != key.ID() {
		t.Fatalf("go-securesystemslib: %v %+v", err, accepted)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(payload, &st); err != nil || env.PayloadType != "application/vnd.in-toto+json" ||
		st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != shipgate.BundlePredicateType || len(st.Subject) != 1 || len(st.Subject[0].Digest["sha256"]) != 64 {
		t.Fatalf("statement %+v %v", st, err)
	}
	// A changed payload fails there too.
	p, _ := base64.StdEncoding.DecodeString(env.Payload)
	p[len(p)/2] ^= 1
	env.Payload = base64.StdEncoding.EncodeToString(p)
	if _, err := ev.Verify(ctx, &env); err == nil {
		t.Fatal("go-securesystemslib accepted a changed payload")
	}
}

// TestReleaseBundleEveryByte flips each byte of a bundle: verification
// must fail for every one, whitespace of the envelope included (the file
// must be exactly as the server wrote it).
func TestReleaseBundleEveryByte(t *testing.T) {
	_, _, key, data := bundledRelease(t)
	keys := []shipgate.AuditPublicKey{key}
	for i := range data {
		for _, flip := range []byte{0x01, 0x20} {
			c := []byte(string(data))
			c[i] ^= flip
			if _, err := bundle.Verify(c, keys); err == nil {
				t.Fatalf("byte %d (%q → %q) changed and the bundle still verifies", i, data[i], c[i])
			}
		}
	}
	for _, c := range [][]byte{data[:len(data)-1], append([]byte(string(data)), '\n'), append([]byte(" "), data...)} {
		if _, err := bundle.Verify(c, keys); err == nil || !strings.Contains(err.Error(), "differs at byte") {
			t.Errorf("reformatted envelope: %v", err)
		}
	}
}

// TestReleaseBundleResignedLies re-signs altered statements with the
// server's own key: the signature then holds, and the checks inside the
// statement must catch each lie.
func TestReleaseBundleResignedLies(t *testing.T) {
	f, _, key, data := bundledRelease(t)
	var env shipgate.DSSEEnvelope
	json.Unmarshal(data, &env)
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	other := signerFrom(t, 9)
	for _, tc := range []struct {
		name, want string
		change     func(st *shipgate.BundleStatement)
	}{
		{"subject digest", "is not the release's artifact", func(st *shipgate.BundleStatement) { st.Subject[0].Digest["sha256"] = strings.Repeat("ab", 32) }},
		{"artifact and subject", "content has digest", func(st *shipgate.BundleStatement) {
			st.Predicate.Release.Artifact.SHA256 = strings.Repeat("ab", 32)
			st.Subject[0].Digest["sha256"] = strings.Repeat("ab", 32)
		}},
		{"statement type", "_type is", func(st *shipgate.BundleStatement) { st.Type = "https://in-toto.io/Statement/v0.1" }},
		{"predicate type", "predicateType is", func(st *shipgate.BundleStatement) { st.PredicateType = "https://slsa.dev/provenance/v1" }},
		{"event actor", "does not hash to its recorded hash", func(st *shipgate.BundleStatement) { st.Predicate.Audit[0].Event.Actor = "mallory" }},
		{"event dropped", "skips from seq", func(st *shipgate.BundleStatement) {
			st.Predicate.Audit = append(st.Predicate.Audit[:1:1], st.Predicate.Audit[2:]...)
		}},
		{"foreign event", "not this release", func(st *shipgate.BundleStatement) { st.Predicate.Audit[0].Event.Subject = "release/999" }},
		{"checkpoint hash", "altered after signing", func(st *shipgate.BundleStatement) { st.Predicate.Checkpoint.Hash = strings.Repeat("0", 64) }},
		{"checkpoint of another key", "is signed by key", func(st *shipgate.BundleStatement) {
			cp := other.Sign(st.Predicate.Checkpoint.Seq, st.Predicate.Checkpoint.Hash, st.Predicate.Checkpoint.At)
			st.Predicate.Checkpoint = &cp
		}},
		{"no checkpoint", "no audit checkpoint", func(st *shipgate.BundleStatement) { st.Predicate.Checkpoint = nil }},
		// Rows the server read from its database but no audit event backs:
		// written behind the log's back, they must not verify as fact.
		{"approval nobody gave", "not backed by a release.approved event", func(st *shipgate.BundleStatement) {
			r := st.Predicate.Release
			st.Predicate.Approvals = append(st.Predicate.Approvals, shipgate.Approval{ID: 77, ReleaseID: r.ID, Actor: "mallory", Decision: shipgate.DecisionApprove, Digest: r.Digest, CreatedAt: r.CreatedAt})
		}},
		{"approval of another digest", "is of digest", func(st *shipgate.BundleStatement) {
			r := st.Predicate.Release
			st.Predicate.Approvals = append(st.Predicate.Approvals, shipgate.Approval{ID: 78, ReleaseID: r.ID, Actor: "alice", Decision: shipgate.DecisionApprove, Digest: "sha256:" + strings.Repeat("ab", 32)})
		}},
		{"policy decision not logged", "not backed by a policy.decided event", func(st *shipgate.BundleStatement) {
			st.Predicate.PolicyDecisions = append(st.Predicate.PolicyDecisions, shipgate.BundlePolicyDecision{ID: 99, Point: "approve", ReleaseID: st.Predicate.Release.ID, Result: shipgate.PolicyAllow, Actor: "alice"})
		}},
		{"evidence swapped", "not backed by an evidence.added event", func(st *shipgate.BundleStatement) {
			st.Predicate.Evidence[0].SHA256 = strings.Repeat("cd", 32)
		}},
		{"tick nobody made", "not backed by a checklist.ticked event", func(st *shipgate.BundleStatement) {
			st.Predicate.Checklist = append(st.Predicate.Checklist, shipgate.ChecklistItemState{Holds: true, Tick: &shipgate.ChecklistTick{ReleaseID: st.Predicate.Release.ID, Item: "change ticket", Actor: "mallory", Link: "https://x"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st shipgate.BundleStatement
			if err := json.Unmarshal(payload, &st); err != nil {
				t.Fatal(err)
			}
			tc.change(&st)
			p, _ := json.Marshal(st)
			b, _ := json.Marshal(f.h.AuditSigner.SignDSSE(shipgate.InTotoPayloadType, p))
			_, err := bundle.Verify(append(b, '\n'), []shipgate.AuditPublicKey{key})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestReleaseBundleArchivedCheckpoints holds a bundle to checkpoints kept
// outside the server: a copy that disagrees with the chain exposes a log
// rewritten before the bundle's own checkpoint was signed.
func TestReleaseBundleArchivedCheckpoints(t *testing.T) {
	f, _, key, data := bundledRelease(t)
	keys := []shipgate.AuditPublicKey{key}
	rep, err := bundle.Verify(data, keys)
	if err != nil {
		t.Fatal(err)
	}
	mid := rep.FirstSeq + 1
	var hash string
	f.db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{AfterSeq: mid - 1, Limit: 1})
		hash = events[0].Hash
		return nil
	})
	at := rep.CheckpointAt
	good := f.h.AuditSigner.Sign(mid, hash, at)
	if got, err := bundle.VerifyWith(data, keys, []shipgate.AuditCheckpoint{good}); err != nil || got.Archived != 1 || !strings.Contains(got.Text(), "1 checkpoints archived outside the server agree") {
		t.Fatalf("agreeing archive: %+v %v", got, err)
	}
	rewritten := f.h.AuditSigner.Sign(mid, strings.Repeat("ab", 32), at)
	if _, err := bundle.VerifyWith(data, keys, []shipgate.AuditCheckpoint{good, rewritten}); err == nil || !strings.Contains(err.Error(), "the log was rewritten") {
		t.Errorf("disagreeing archive: %v", err)
	}
	forged := signerFrom(t, 9).Sign(mid, hash, at)
	if _, err := bundle.VerifyWith(data, keys, []shipgate.AuditCheckpoint{forged}); err == nil || !strings.Contains(err.Error(), "archived checkpoint") {
		t.Errorf("archive signed by another key: %v", err)
	}
	outside := f.h.AuditSigner.Sign(rep.FirstSeq-1, strings.Repeat("cd", 32), at)
	if _, err := bundle.VerifyWith(data, keys, []shipgate.AuditCheckpoint{outside}); err == nil || !strings.Contains(err.Error(), "none of the 1 archived checkpoints") {
		t.Errorf("archive outside the chain: %v", err)
	}
}

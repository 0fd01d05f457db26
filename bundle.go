package shipgate

import (
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"time"
)

// An evidence bundle is what an auditor takes away from a release: an
// in-toto Statement (https://in-toto.io/Statement/v1) whose subject is the
// release's artifact and whose predicate (ReleaseEvidence) holds the
// release, its approvals, policy decisions, checklist, evidence and audit
// events, in a DSSE envelope signed with the audit-checkpoint key. It is
// built by internal/bundle and verified offline by `shipgate verify-bundle`.
const (
	InTotoStatementType = "https://in-toto.io/Statement/v1"
	// InTotoPayloadType is the DSSE payloadType of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// BundlePredicateType names the predicate ReleaseEvidence: its fields
	// are documented in docs/governance.md.
	BundlePredicateType = "https://shipgate.dev/release-evidence/v1"
)

// BundleStatement is the in-toto Statement v1 of a release.
type BundleStatement struct {
	Type          string          `json:"_type"`
	Subject       []BundleSubject `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     ReleaseEvidence `json:"predicate"`
}

// BundleSubject is an in-toto ResourceDescriptor: the artifact by name
// and digest ({"sha256": hex}).
type BundleSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// ReleaseEvidence is the predicate: what the server knew of the release
// when it built the bundle.
type ReleaseEvidence struct {
	BuiltAt time.Time `json:"built_at"`
	// Release is the release with its frozen content and digest; Rollbacks
	// are the rollback releases that replaced it, if any.
	Release         Release                `json:"release"`
	Rollbacks       []Release              `json:"rollbacks,omitempty"`
	Approvals       []Approval             `json:"approvals"`
	PolicyDecisions []BundlePolicyDecision `json:"policy_decisions"`
	Checklist       []ChecklistItemState   `json:"checklist"`
	Evidence        []Evidence             `json:"evidence"`
	// Audit is the stretch of the audit chain from the release's first
	// event to Checkpoint: the events of the release and its rollbacks in
	// full, every other event as a link (seq and hashes only, its content
	// withheld), so the chain can be followed into the checkpoint.
	Audit      []BundleAuditEntry `json:"audit"`
	Checkpoint *AuditCheckpoint   `json:"checkpoint,omitempty"`
}

// BundlePolicyDecision is a recorded policy decision without its input
// document, which InputDigest pins (`shipgate policy replay ID` shows it).
type BundlePolicyDecision struct {
	ID           int64     `json:"id"`
	Point        string    `json:"point"`
	ReleaseID    int64     `json:"release_id"`
	Policies     []string  `json:"policies"`
	BundleDigest string    `json:"bundle_digest"`
	InputDigest  string    `json:"input_digest"`
	Result       string    `json:"result"`
	Deny         []string  `json:"deny,omitempty"`
	Warn         []string  `json:"warn,omitempty"`
	Error        string    `json:"error,omitempty"`
	ResultDigest string    `json:"result_digest"`
	Actor        string    `json:"actor"`
	At           time.Time `json:"at"`
}

// BundleAuditEntry is one event of the chain: Event in full for an event
// of the release, else only its Link.
type BundleAuditEntry struct {
	Event *AuditEvent      `json:"event,omitempty"`
	Link  *BundleAuditLink `json:"link,omitempty"`
}

// BundleAuditLink is an event of the chain given by its hashes only.
type BundleAuditLink struct {
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// DSSEEnvelope is a DSSE envelope (github.com/secure-systems-lab/dsse).
type DSSEEnvelope struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"` // standard base64
	Signatures  []DSSESignature `json:"signatures"`
}

// DSSESignature is one signature of an envelope: Sig (standard base64) over
// DSSEPAE(payloadType, payload), KeyID the signing key's AuditPublicKey.ID.
type DSSESignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// DSSEPAE is the DSSE v1 pre-authentication encoding, the bytes a DSSE
// signature covers: "DSSEv1 <len(type)> <type> <len(payload)> <payload>".
// Its "DSSEv1" prefix keeps these signatures apart from checkpoints'.
func DSSEPAE(payloadType string, payload []byte) []byte {
	b := make([]byte, 0, 32+len(payloadType)+len(payload))
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// SignDSSE returns the envelope of payload signed with the audit key.
func (s *AuditSigner) SignDSSE(payloadType string, payload []byte) DSSEEnvelope {
	sig := ed25519.Sign(s.priv, DSSEPAE(payloadType, payload))
	return DSSEEnvelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []DSSESignature{{KeyID: s.pub.ID(), Sig: base64.StdEncoding.EncodeToString(sig)}},
	}
}

// VerifyDSSE reports whether sig is k's signature of
// DSSEPAE(payloadType, payload).
func (k AuditPublicKey) VerifyDSSE(payloadType string, payload, sig []byte) bool {
	return len(k.key) == ed25519.PublicKeySize && ed25519.Verify(k.key, DSSEPAE(payloadType, payload), sig)
}

// Ed25519 is the raw key, for other implementations of the same checks.
func (k AuditPublicKey) Ed25519() ed25519.PublicKey { return k.key }

package bundle

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// Report is what a bundle proves once Verify accepts it.
type Report struct {
	ReleaseID     int64  `json:"release_id"`
	Service       string `json:"service"`
	Version       string `json:"version"`
	Environment   string `json:"environment"`
	State         string `json:"state"`
	ReleaseDigest string `json:"release_digest"`
	Subject       string `json:"subject"`
	// Artifact is "sha256:<hex>", the subject's digest.
	Artifact  string     `json:"artifact"`
	KeyID     string     `json:"key_id"`
	BuiltAt   time.Time  `json:"built_at"`
	Approvals []Approval `json:"approvals"`
	Rollbacks []int64    `json:"rollbacks,omitempty"`
	// Policy counts decisions by result (allow, deny, error).
	PolicyDecisions int            `json:"policy_decisions"`
	Policy          map[string]int `json:"policy_results"`
	ChecklistHeld   int            `json:"checklist_held"`
	// Ticks say who ticked each manual item, with its link.
	Ticks          []shipgate.ChecklistTick `json:"checklist_ticks"`
	ChecklistItems int                      `json:"checklist_items"`
	Evidence       int                      `json:"evidence"`
	// AuditEvents are the release's events, given in full and each
	// rehashed; AuditLinks the other events between them, by hash only.
	AuditEvents   int   `json:"audit_events"`
	AuditLinks    int   `json:"audit_links"`
	FirstSeq      int64 `json:"first_seq"`
	LastSeq       int64 `json:"last_seq"`
	CheckpointSeq int64 `json:"checkpoint_seq"`
	// CheckpointAt is when the key signed the checkpoint.
	CheckpointAt time.Time `json:"checkpoint_at"`
	// Covered says the checkpoint covers every event of the bundle; when
	// it does not, Note says what the checkpoint still proves.
	Covered bool   `json:"covered"`
	Note    string `json:"note,omitempty"`
	// Archived is how many checkpoints kept outside the server (VerifyWith)
	// fall within the bundle's stretch of chain and agree with it.
	Archived int `json:"archived_checkpoints_matched"`
}

// Approval is one decision on the release as the bundle records it.
type Approval struct {
	Actor    string    `json:"actor"`
	Decision string    `json:"decision"`
	At       time.Time `json:"at"`
	// Counted is false for an approval that expired or was withdrawn.
	Counted bool `json:"counted"`
}

// fail is a verification failure: the bundle proves nothing.
func fail(format string, args ...any) error {
	return shipgate.Errorf(shipgate.EINVALID, "bundle rejected: "+format, args...)
}

// Read reads a bundle file, refusing one over MaxBytes.
func Read(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBytes {
		return nil, fail("the file is larger than %d bytes", MaxBytes)
	}
	return b, nil
}

// Verify checks the bundle data offline against keys (the one whose id
// the envelope names is used; more than one serves across a key change)
// and reports what it proves. Any change to the file fails: bytes outside
// the signed payload must be exactly as Build writes them, and the payload
// is signed.
func Verify(data []byte, keys []shipgate.AuditPublicKey) (*Report, error) {
	return VerifyWith(data, keys, nil)
}

// VerifyWith is Verify that also holds the bundle to checkpoints archived
// outside the server (a notification sink's copies, `audit checkpoint
// --append`): each must be signed by one of keys, and each whose seq falls
// within the bundle's stretch of chain must have the hash the bundle gives
// that seq. That rules out a log rewritten before the bundle's own
// checkpoint was signed, which the bundle alone cannot.
func VerifyWith(data []byte, keys []shipgate.AuditPublicKey, archived []shipgate.AuditCheckpoint) (*Report, error) {
	if len(keys) == 0 {
		return nil, shipgate.Errorf(shipgate.EINVALID, "no public key to verify the bundle with")
	}
	if len(data) > MaxBytes {
		return nil, fail("the file is larger than %d bytes", MaxBytes)
	}
	payload, key, err := openEnvelope(data, keys)
	if err != nil {
		return nil, err
	}
	var st shipgate.BundleStatement
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fail("the signed statement is not a shipgate release statement: %v", err)
	}
	rep := &Report{KeyID: key.ID()}
	if err := checkStatement(&st, rep); err != nil {
		return nil, err
	}
	hashAt, err := checkChain(&st.Predicate, key, rep)
	if err != nil {
		return nil, err
	}
	if err := checkBacked(&st.Predicate); err != nil {
		return nil, err
	}
	if archived != nil {
		if err := checkArchived(archived, keys, hashAt, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// openEnvelope checks the envelope's form and signature and returns the
// signed payload and the key that signed it.
func openEnvelope(data []byte, keys []shipgate.AuditPublicKey) (payload []byte, key shipgate.AuditPublicKey, err error) {
	var env shipgate.DSSEEnvelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, key, fail("not a DSSE envelope: %v", err)
	}
	canon, err := encode(env)
	if err != nil {
		return nil, key, fail("not a DSSE envelope: %v", err)
	}
	if !bytes.Equal(data, canon) {
		i := 0
		for i < len(data) && i < len(canon) && data[i] == canon[i] {
			i++
		}
		return nil, key, fail("the file differs at byte %d from the form shipgate writes (changed after it was written?)", i)
	}
	if env.PayloadType != shipgate.InTotoPayloadType {
		return nil, key, fail("payloadType is %q, not %q", env.PayloadType, shipgate.InTotoPayloadType)
	}
	if len(env.Signatures) != 1 {
		return nil, key, fail("the envelope has %d signatures, want 1", len(env.Signatures))
	}
	s := env.Signatures[0]
	ids := make([]string, len(keys))
	found := false
	for i, k := range keys {
		ids[i] = k.ID()
		if k.ID() == s.KeyID {
			key, found = k, true
		}
	}
	if !found {
		return nil, key, fail("signed by key %s, not by the given key %s", orUnnamed(s.KeyID), strings.Join(ids, " or "))
	}
	payload, err = base64.StdEncoding.Strict().DecodeString(env.Payload)
	if err != nil {
		return nil, key, fail("the payload is not base64: %v", err)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(s.Sig)
	if err != nil {
		return nil, key, fail("the signature is not base64: %v", err)
	}
	if !key.VerifyDSSE(env.PayloadType, payload, sig) {
		return nil, key, fail("the DSSE signature does not verify with key %s: the bundle was changed after signing", key.ID())
	}
	return payload, key, nil
}

func orUnnamed(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}

// checkStatement checks the statement's structure and that its subject is
// the release's artifact, and fills in the release part of rep.
func checkStatement(st *shipgate.BundleStatement, rep *Report) error {
	p := &st.Predicate
	r := &p.Release
	switch {
	case st.Type != shipgate.InTotoStatementType:
		return fail("_type is %q, not %q", st.Type, shipgate.InTotoStatementType)
	case st.PredicateType != shipgate.BundlePredicateType:
		return fail("predicateType is %q, not %q", st.PredicateType, shipgate.BundlePredicateType)
	case len(st.Subject) != 1:
		return fail("the statement has %d subjects, want the release's artifact only", len(st.Subject))
	}
	sub := st.Subject[0]
	d := sub.Digest["sha256"]
	if len(sub.Digest) != 1 || !isHex64(d) {
		return fail("the subject's digest must be one sha256 of 64 hex digits")
	}
	if d != r.Artifact.SHA256 {
		return fail("the subject's digest sha256:%s is not the release's artifact sha256:%s", d, r.Artifact.SHA256)
	}
	if got := r.ReleaseContent.Digest(); got != r.Digest {
		return fail("release %d's content has digest %s, not the %s it records", r.ID, got, r.Digest)
	}
	for i := range p.Rollbacks {
		rb := &p.Rollbacks[i]
		if rb.RollbackOf != r.ID {
			return fail("release %d is given as a rollback of release %d but replaced release %d", rb.ID, r.ID, rb.RollbackOf)
		}
		if got := rb.ReleaseContent.Digest(); got != rb.Digest {
			return fail("rollback release %d's content has digest %s, not the %s it records", rb.ID, got, rb.Digest)
		}
		rep.Rollbacks = append(rep.Rollbacks, rb.ID)
	}
	rep.ReleaseID, rep.Service, rep.Version, rep.Environment = r.ID, r.Service, r.Version, r.Environment
	rep.State, rep.ReleaseDigest, rep.Subject, rep.Artifact = string(r.State), r.Digest, sub.Name, "sha256:"+d
	rep.BuiltAt = p.BuiltAt
	rep.Approvals = []Approval{}
	for _, a := range p.Approvals {
		if a.ReleaseID != r.ID {
			return fail("approval %d is of release %d, not %d", a.ID, a.ReleaseID, r.ID)
		}
		rep.Approvals = append(rep.Approvals, Approval{Actor: a.Actor, Decision: a.Decision, At: a.CreatedAt,
			Counted: a.ExpiredAt == nil && a.WithdrawnAt == nil})
	}
	rep.Policy = map[string]int{}
	for _, pd := range p.PolicyDecisions {
		rep.Policy[pd.Result]++
	}
	rep.PolicyDecisions = len(p.PolicyDecisions)
	rep.Ticks = []shipgate.ChecklistTick{}
	for _, c := range p.Checklist {
		if c.Holds {
			rep.ChecklistHeld++
		}
		if c.Tick != nil {
			rep.Ticks = append(rep.Ticks, *c.Tick)
		}
	}
	rep.ChecklistItems = len(p.Checklist)
	for _, e := range p.Evidence {
		if e.ReleaseID != r.ID {
			return fail("evidence %d is of release %d, not %d", e.ID, e.ReleaseID, r.ID)
		}
	}
	rep.Evidence = len(p.Evidence)
	return nil
}

func isHex64(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 64 && err == nil && strings.ToLower(s) == s
}

// checkChain recomputes each event's hash, follows prev_hash from each
// entry to the next, and holds the stretch to the checkpoint.
func checkChain(p *shipgate.ReleaseEvidence, key shipgate.AuditPublicKey, rep *Report) (map[int64]string, error) {
	if len(p.Audit) == 0 {
		return nil, fail("the bundle has no audit events")
	}
	ids := map[int64]bool{p.Release.ID: true}
	for _, rb := range p.Rollbacks {
		ids[rb.ID] = true
	}
	hashAt := make(map[int64]string, len(p.Audit))
	var prevSeq int64
	var prevHash string
	for i, a := range p.Audit {
		var seq int64
		var prev, hash string
		switch {
		case a.Event != nil && a.Link == nil:
			e := a.Event
			id, ok := shipgate.ReleaseIDOf(e.Subject)
			if !ok || !ids[id] {
				return nil, fail("audit event seq %d is about %q, not this release or its rollbacks", e.Seq, e.Subject)
			}
			got, err := e.ComputeHash()
			if err != nil {
				return nil, fail("audit event seq %d: %v", e.Seq, err)
			}
			if got != e.Hash {
				return nil, fail("audit event seq %d does not hash to its recorded hash %s (it was changed)", e.Seq, e.Hash)
			}
			seq, prev, hash = e.Seq, e.PrevHash, e.Hash
			rep.AuditEvents++
		case a.Link != nil && a.Event == nil && i > 0:
			seq, prev, hash = a.Link.Seq, a.Link.PrevHash, a.Link.Hash
			rep.AuditLinks++
		default:
			return nil, fail("audit entry %d must be an event or (after the first) a link, one of the two", i)
		}
		if !isHex64(hash) {
			return nil, fail("audit seq %d: the hash is not 64 hex digits", seq)
		}
		if i > 0 {
			if seq != prevSeq+1 {
				return nil, fail("the audit chain skips from seq %d to %d", prevSeq, seq)
			}
			if prev != prevHash {
				return nil, fail("audit seq %d does not chain: its prev_hash is not the hash of seq %d", seq, prevSeq)
			}
		}
		prevSeq, prevHash = seq, hash
		hashAt[seq] = hash
	}
	rep.FirstSeq, rep.LastSeq = p.Audit[0].Event.Seq, prevSeq
	cp := p.Checkpoint
	if cp == nil {
		return nil, fail("the bundle has no audit checkpoint")
	}
	if err := shipgate.VerifyCheckpoint(cp, []shipgate.AuditPublicKey{key}); err != nil {
		return nil, fail("%v", err)
	}
	rep.CheckpointSeq, rep.CheckpointAt = cp.Seq, cp.At
	lastEvent := int64(0)
	for _, a := range p.Audit {
		if a.Event != nil {
			lastEvent = a.Event.Seq
		}
	}
	h, inRange := hashAt[cp.Seq]
	switch {
	case inRange && h != cp.Hash:
		return nil, fail("the checkpoint signed seq %d with hash %s, the bundle's chain gives %s", cp.Seq, cp.Hash, h)
	case inRange && cp.Seq >= lastEvent:
		rep.Covered = true
	case inRange:
		rep.Note = fmt.Sprintf("the checkpoint covers the events up to seq %d only; the later events chain to it but no signed checkpoint fixes them", cp.Seq)
	default:
		rep.Note = fmt.Sprintf("the checkpoint (seq %d) is outside the chain given (seq %d–%d): it proves the key signed that head, not that these events lead to it", cp.Seq, rep.FirstSeq, rep.LastSeq)
	}
	return hashAt, nil
}

// checkArchived holds the chain to the archived checkpoints.
func checkArchived(archived []shipgate.AuditCheckpoint, keys []shipgate.AuditPublicKey, hashAt map[int64]string, rep *Report) error {
	for i := range archived {
		c := &archived[i]
		if err := shipgate.VerifyCheckpoint(c, keys); err != nil {
			return fail("archived %v", err)
		}
		h, ok := hashAt[c.Seq]
		if !ok {
			continue
		}
		if h != c.Hash {
			return fail("the log was rewritten: the checkpoint archived from %s says seq %d had hash %s, the bundle's chain gives %s",
				c.At.UTC().Format(time.RFC3339), c.Seq, c.Hash, h)
		}
		rep.Archived++
	}
	if rep.Archived == 0 {
		return fail("none of the %d archived checkpoints falls within the bundle's chain (seq %d–%d), so they say nothing about it; archive the checkpoints published around the release", len(archived), rep.FirstSeq, rep.LastSeq)
	}
	return nil
}

// Text says in words what the report proves.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "OK: release %d of %s %s → %s (%s), artifact %s (%s)\n", r.ReleaseID, r.Service, r.Version, r.Environment, r.State, r.Artifact, r.Subject)
	fmt.Fprintf(&b, "  content digest %s recomputed from the frozen content\n", r.ReleaseDigest)
	if len(r.Rollbacks) > 0 {
		fmt.Fprintf(&b, "  rolled back by release %s\n", joinIDs(r.Rollbacks))
	}
	var approvers []string
	for _, a := range r.Approvals {
		s := fmt.Sprintf("%s %s at %s", a.Actor, pastTense(a.Decision), a.At.UTC().Format(time.RFC3339))
		if !a.Counted {
			s += " (no longer counted: expired or withdrawn)"
		}
		approvers = append(approvers, s)
	}
	if len(approvers) == 0 {
		b.WriteString("  no approvals recorded\n")
	} else {
		fmt.Fprintf(&b, "  %s\n", strings.Join(approvers, "; "))
	}
	fmt.Fprintf(&b, "  %d policy decisions%s, checklist %d/%d held, %d evidence items\n", r.PolicyDecisions, policyText(r.Policy, r.PolicyDecisions), r.ChecklistHeld, r.ChecklistItems, r.Evidence)
	for _, tk := range r.Ticks {
		fmt.Fprintf(&b, "  checklist item %q ticked by %s at %s: %s\n", tk.Item, tk.Actor, tk.At.UTC().Format(time.RFC3339), tk.Link)
	}
	fmt.Fprintf(&b, "  %d audit events (seq %d–%d, each rehashed, %d other events linked by hash) chained into checkpoint seq %d signed at %s by key %s\n",
		r.AuditEvents, r.FirstSeq, r.LastSeq, r.AuditLinks, r.CheckpointSeq, r.CheckpointAt.UTC().Format(time.RFC3339), r.KeyID)
	if r.Archived > 0 {
		fmt.Fprintf(&b, "  %d checkpoints archived outside the server agree with the chain\n", r.Archived)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, "  note: %s\n", r.Note)
	}
	fmt.Fprintf(&b, "  bundle built at %s and signed (DSSE) by key %s\n", r.BuiltAt.UTC().Format(time.RFC3339), r.KeyID)
	return b.String()
}

func pastTense(decision string) string {
	switch decision {
	case shipgate.DecisionApprove:
		return "approved"
	case shipgate.DecisionReject:
		return "rejected"
	}
	return decision
}

func policyText(m map[string]int, n int) string {
	if n == 0 {
		return ""
	}
	if m[shipgate.PolicyAllow] == n {
		return " (all allow)"
	}
	var parts []string
	for _, k := range []string{shipgate.PolicyAllow, shipgate.PolicyDeny, shipgate.PolicyError} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}

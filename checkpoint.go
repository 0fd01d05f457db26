package shipgate

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The hash chain alone cannot tell a rewritten log from the real one:
// whoever can write the database can recompute every hash and the head.
// A checkpoint anchors the chain outside the database: the server signs
// {seq, hash, time} of the head with an ed25519 key it keeps outside the
// database, and publishes the checkpoint to notification sinks. Anyone
// holding a checkpoint and the public key can later prove that the event
// at that seq still has that hash.

// Checkpoint events. A checkpoint is not an audit event (signing one would
// move the head it signs); it is announced to notification sinks under
// this name, which a sink's events filter may list.
const (
	ActionAuditCheckpoint = "audit.checkpoint"
)

// AuditCheckpoint is a signed statement that the audit chain's event Seq
// had hash Hash at time At.
type AuditCheckpoint struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
	// KeyID names the signing key (see AuditPublicKey.ID); it is not
	// signed, only a hint for choosing the key.
	KeyID string `json:"key_id"`
	// Signature is the base64 ed25519 signature of SignedMessage.
	Signature string `json:"signature"`
}

// MarshalJSON writes at exactly as it is signed (RFC 3339, UTC, six
// fractional digits), so the fields of the JSON are the signed text.
func (c AuditCheckpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Seq       int64  `json:"seq"`
		Hash      string `json:"hash"`
		At        string `json:"at"`
		KeyID     string `json:"key_id"`
		Signature string `json:"signature"`
	}{c.Seq, c.Hash, c.At.UTC().Format(checkpointTimeFormat), c.KeyID, c.Signature})
}

const checkpointTimeFormat = "2006-01-02T15:04:05.000000Z"

// checkpointContext separates checkpoint signatures from anything else
// the key could ever sign.
const checkpointContext = "shipgate audit checkpoint v1\n"

// SignedMessage is the exact text the signature covers:
//
//	shipgate audit checkpoint v1
//	seq <seq>
//	hash <hash>
//	at <time, RFC 3339 UTC with microseconds>
//
// each line ending in a newline, so a checkpoint can be verified with any
// ed25519 tool (openssl pkeyutl -verify -rawin).
func (c *AuditCheckpoint) SignedMessage() []byte {
	b := make([]byte, 0, 160)
	b = append(b, checkpointContext...)
	b = append(b, "seq "...)
	b = strconv.AppendInt(b, c.Seq, 10)
	b = append(b, "\nhash "...)
	b = append(b, c.Hash...)
	b = append(b, "\nat "...)
	b = c.At.UTC().AppendFormat(b, checkpointTimeFormat)
	return append(b, '\n')
}

// AuditSigningKeySize is the size of an audit signing key's seed.
const AuditSigningKeySize = ed25519.SeedSize

// AuditSigner signs checkpoints. Its key must never be in the database.
type AuditSigner struct {
	priv ed25519.PrivateKey
	pub  AuditPublicKey
}

// NewAuditSigner makes a signer from a 32-byte ed25519 seed.
func NewAuditSigner(seed []byte) (*AuditSigner, error) {
	if len(seed) != AuditSigningKeySize {
		return nil, Errorf(EINVALID, "an audit signing key is %d bytes, not %d", AuditSigningKeySize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &AuditSigner{priv: priv, pub: AuditPublicKey{key: priv.Public().(ed25519.PublicKey)}}, nil
}

// PublicKey is the key that verifies this signer's checkpoints.
func (s *AuditSigner) PublicKey() AuditPublicKey { return s.pub }

// Sign makes the checkpoint of the chain's event seq with hash at time at.
// The time is kept at microsecond precision, as signed.
func (s *AuditSigner) Sign(seq int64, hash string, at time.Time) AuditCheckpoint {
	c := AuditCheckpoint{Seq: seq, Hash: hash, At: at.UTC().Truncate(time.Microsecond), KeyID: s.pub.ID()}
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.priv, c.SignedMessage()))
	return c
}

// AuditPublicKey verifies checkpoints. Its text form is
// "ed25519:<base64 of the 32-byte key>".
type AuditPublicKey struct{ key ed25519.PublicKey }

const publicKeyPrefix = "ed25519:"

// String is the key's text form.
func (k AuditPublicKey) String() string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(k.key)
}

// ID is a short name of the key: the first 8 bytes of its sha256, in hex.
func (k AuditPublicKey) ID() string {
	sum := sha256.Sum256(k.key)
	return hex.EncodeToString(sum[:8])
}

// PEM is the key as a PKIX "PUBLIC KEY" block, for tools such as openssl.
func (k AuditPublicKey) PEM() string {
	der, err := x509.MarshalPKIXPublicKey(k.key)
	if err != nil {
		panic(err) // an ed25519 key always encodes
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// ParseAuditPublicKey reads a key in its text form or as a PEM block.
func ParseAuditPublicKey(s string) (AuditPublicKey, error) {
	s = strings.TrimSpace(s)
	if b, _ := pem.Decode([]byte(s)); b != nil {
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if ek, ok := k.(ed25519.PublicKey); ok && err == nil {
			return AuditPublicKey{key: ek}, nil
		}
		return AuditPublicKey{}, Errorf(EINVALID, "the PEM block is not an ed25519 public key")
	}
	enc, ok := strings.CutPrefix(s, publicKeyPrefix)
	raw, err := base64.StdEncoding.DecodeString(enc)
	if !ok || err != nil || len(raw) != ed25519.PublicKeySize {
		return AuditPublicKey{}, Errorf(EINVALID, "%q is not an audit public key: want ed25519:<base64 of 32 bytes>, as `shipgate audit public-key` prints", clipForError(s))
	}
	return AuditPublicKey{key: ed25519.PublicKey(raw)}, nil
}

func clipForError(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// VerifyCheckpoint checks c's signature against any of keys. A checkpoint
// signed by another key, or altered after signing, is refused.
func VerifyCheckpoint(c *AuditCheckpoint, keys []AuditPublicKey) error {
	if len(keys) == 0 {
		return Errorf(EINVALID, "no public key to verify checkpoints with")
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err == nil && len(sig) == ed25519.SignatureSize {
		for _, k := range keys {
			if ed25519.Verify(k.key, c.SignedMessage(), sig) {
				return nil
			}
		}
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID()
		if k.ID() == c.KeyID {
			return fmt.Errorf("checkpoint of seq %d: the signature does not match its content (altered after signing)", c.Seq)
		}
	}
	return fmt.Errorf("checkpoint of seq %d is signed by key %s, not by %s", c.Seq, orUnknown(c.KeyID), strings.Join(ids, " or "))
}

func orUnknown(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}

// AuditCheckpointEventType is the CloudEvents (and CDEvents) type under
// which webhook sinks receive a checkpoint. Servers before CDEvents sent
// legacyCheckpointEventType, with the checkpoint as the event's data.
const (
	AuditCheckpointEventType  = "dev.cdeventsx.shipgate-auditcheckpoint.signed.0.1.0"
	checkpointEventTypePrefix = "dev.cdeventsx.shipgate-auditcheckpoint.signed."
	legacyCheckpointEventType = "dev.shipgate.audit.checkpoint.v1"
)

// CheckpointArchive is what a file of checkpoints held: the checkpoints,
// and how many other CloudEvents (a webhook archive of every event) were
// skipped.
type CheckpointArchive struct {
	Checkpoints []AuditCheckpoint
	Skipped     int
}

// ParseAuditCheckpoints reads the checkpoints of a file, as
// ReadAuditCheckpoints does, and drops the count of skipped events.
func ParseAuditCheckpoints(r io.Reader) ([]AuditCheckpoint, error) {
	a, err := ReadAuditCheckpoints(r)
	return a.Checkpoints, err
}

// ReadAuditCheckpoints reads checkpoints from a file: one JSON object, a
// JSON array, or JSON Lines (what `audit checkpoint --append` writes).
// A CloudEvent carrying a checkpoint (the webhook body of an
// audit.checkpoint notification: a CDEvent whose subject content is the
// checkpoint, or, from older servers, data that is the checkpoint) counts
// as that checkpoint, and a CloudEvent of any other type is skipped and
// counted, so a receiver's archive of every body a webhook sink got can
// be given as is. Anything else — not JSON, neither a CloudEvent nor a
// checkpoint, a malformed checkpoint — is refused, naming its line.
func ReadAuditCheckpoints(r io.Reader) (CheckpointArchive, error) {
	var out CheckpointArchive
	b, err := io.ReadAll(r)
	if err != nil {
		return out, Errorf(EINVALID, "checkpoint file: %v", err)
	}
	lineAt := func(off int64) int { return 1 + bytes.Count(b[:min(max(off, 0), int64(len(b)))], []byte("\n")) }
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		start := dec.InputOffset()
		start += int64(len(b[start:]) - len(bytes.TrimLeft(b[start:], " \t\r\n")))
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return CheckpointArchive{}, Errorf(EINVALID, "checkpoint file: line %d is not JSON: %v", lineAt(start), err)
		}
		line := lineAt(start)
		items := []json.RawMessage{raw}
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			items = nil
			if err := json.Unmarshal(raw, &items); err != nil {
				return CheckpointArchive{}, Errorf(EINVALID, "checkpoint file: line %d: %v", line, err)
			}
		}
		for _, it := range items {
			c, other, err := parseCheckpoint(it)
			if err != nil {
				return CheckpointArchive{}, Errorf(EINVALID, "checkpoint file: line %d: %v", line, err)
			}
			if other {
				out.Skipped++
				continue
			}
			out.Checkpoints = append(out.Checkpoints, c)
		}
	}
	if len(out.Checkpoints) == 0 {
		if out.Skipped > 0 {
			return CheckpointArchive{}, Errorf(EINVALID, "checkpoint file holds no checkpoint (skipped %d other events; a webhook sink sends checkpoints as %s unless its events list leaves audit.checkpoint out)", out.Skipped, AuditCheckpointEventType)
		}
		return CheckpointArchive{}, Errorf(EINVALID, "checkpoint file holds no checkpoint")
	}
	return out, nil
}

// parseCheckpoint reads one checkpoint, bare or in a CloudEvent; other
// is true for a CloudEvent of another type, which holds none.
func parseCheckpoint(raw json.RawMessage) (c AuditCheckpoint, other bool, err error) {
	var env struct {
		SpecVersion string          `json:"specversion"`
		Type        string          `json:"type"`
		Data        json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &env) == nil && env.SpecVersion != "" {
		switch {
		case env.Type == "":
			return c, false, fmt.Errorf("a CloudEvent without a type")
		case env.Type != legacyCheckpointEventType && !strings.HasPrefix(env.Type, checkpointEventTypePrefix):
			return c, true, nil
		case len(env.Data) == 0:
			return c, false, fmt.Errorf("not a checkpoint: the %s event has no data", env.Type)
		}
		raw = env.Data
		// Since CDEvents: data is a CDEvent whose subject content is the
		// checkpoint. (Before, data was the checkpoint; archives of those
		// bodies still read.)
		var cd struct {
			Context json.RawMessage `json:"context"`
			Subject struct {
				Content json.RawMessage `json:"content"`
			} `json:"subject"`
		}
		if json.Unmarshal(raw, &cd) == nil && len(cd.Context) > 0 && len(cd.Subject.Content) > 0 {
			raw = cd.Subject.Content
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, false, fmt.Errorf("not a checkpoint: %v", err)
	}
	if c.Seq < 0 || len(c.Hash) != 64 || c.Signature == "" || c.At.IsZero() {
		return c, false, fmt.Errorf("not a checkpoint: it needs seq, hash (64 hex digits), at and signature")
	}
	return c, false, nil
}

// Anchor makes the verifier hold the chain to checkpoints: each must be
// signed by one of keys, and the chain must still contain each one's event
// with its hash. Call it before the first Add.
func (v *AuditVerifier) Anchor(keys []AuditPublicKey, checkpoints []AuditCheckpoint) error {
	for i := range checkpoints {
		if err := VerifyCheckpoint(&checkpoints[i], keys); err != nil {
			return err
		}
	}
	cps := slices.Clone(checkpoints)
	slices.SortStableFunc(cps, func(a, b AuditCheckpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	var kept []AuditCheckpoint
	for _, c := range cps {
		if n := len(kept); n > 0 && kept[n-1].Seq == c.Seq {
			if kept[n-1].Hash != c.Hash {
				return fmt.Errorf("two checkpoints signed by this key disagree about seq %d (hash %s at %s, hash %s at %s): the key signed two histories, so either it is compromised or a server signed a rewritten log",
					c.Seq, kept[n-1].Hash, fmtCheckpointTime(kept[n-1].At), c.Hash, fmtCheckpointTime(c.At))
			}
			continue
		}
		if c.Seq == 0 {
			if c.Hash != GenesisHash {
				return fmt.Errorf("the checkpoint of seq 0 (the empty log) has hash %s, not the genesis hash", c.Hash)
			}
			v.anchored++
			v.newestAnchor = &c
			continue
		}
		kept = append(kept, c)
	}
	v.anchors = kept
	return nil
}

func fmtCheckpointTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkAnchor holds the event e, already checked against the chain, to the
// checkpoint of its seq if there is one.
func (v *AuditVerifier) checkAnchor(e *AuditEvent) error {
	for len(v.anchors) > 0 && v.anchors[0].Seq == e.Seq {
		c := v.anchors[0]
		if c.Hash != e.Hash {
			return v.rewritten(e.Seq, "the log was rewritten: the checkpoint signed at %s says seq %d had hash %s, the log now gives %s; %s",
				fmtCheckpointTime(c.At), c.Seq, c.Hash, e.Hash, v.rewriteRange(e.Seq))
		}
		v.anchors = v.anchors[1:]
		v.anchored++
		v.newestAnchor = &c
	}
	return nil
}

// rewriteRange says where the first changed event can be, given that the
// newest matched checkpoint still holds and seq does not.
func (v *AuditVerifier) rewriteRange(seq int64) string {
	var from int64 = 1
	held := "no earlier checkpoint narrows it down"
	if v.newestAnchor != nil && v.newestAnchor.Seq > 0 {
		from = v.newestAnchor.Seq + 1
		held = fmt.Sprintf("the checkpoint of seq %d still holds", v.newestAnchor.Seq)
	}
	if from >= seq {
		return fmt.Sprintf("seq %d is the first changed event (%s)", seq, held)
	}
	return fmt.Sprintf("the first changed event is between seq %d and %d (%s)", from, seq, held)
}

// finishAnchors fails if a checkpoint names an event past the end of the
// chain: events were cut off or renumbered.
func (v *AuditVerifier) finishAnchors() error {
	if len(v.anchors) == 0 {
		return nil
	}
	c := v.anchors[0]
	return v.rewritten(v.lastSeq+1, "events were removed or renumbered: the log ends at seq %d, but the checkpoint signed at %s covers seq %d; %s",
		v.lastSeq, fmtCheckpointTime(c.At), c.Seq, v.rewriteRange(v.lastSeq+1))
}

// AuditVerification is what verifying the chain established: the head it
// reached, to be recorded elsewhere, and the checkpoints that held.
type AuditVerification struct {
	Events   int64  `json:"events"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// Checkpoints is how many distinct checkpoints were matched; Newest is
	// the one with the highest seq.
	Checkpoints int              `json:"checkpoints_matched"`
	Newest      *AuditCheckpoint `json:"newest_checkpoint,omitempty"`
}

// Verification reports what the verifier has established so far.
func (v *AuditVerifier) Verification() AuditVerification {
	r := AuditVerification{Events: v.n, HeadSeq: v.lastSeq, HeadHash: v.lastHash, Checkpoints: v.anchored, Newest: v.newestAnchor}
	if v.n == 0 && !v.resumed {
		r.HeadHash = GenesisHash
	}
	return r
}

// Resume starts verification after event seq with hash, already known to
// be good (a checkpoint), instead of at the start of the chain.
func (v *AuditVerifier) Resume(seq int64, hash string) {
	v.lastSeq, v.lastHash, v.resumed = seq, hash, true
}

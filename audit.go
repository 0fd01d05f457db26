package shipgate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEvent is one entry of the hash-chained audit log. Hash is
// sha256(PrevHash ‖ canonical JSON of {seq, at, actor, action, subject,
// details}); changing, removing or reordering any event breaks every hash
// after it.
type AuditEvent struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Subject  string          `json:"subject"`
	Details  json.RawMessage `json:"details"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// GenesisHash is the prev_hash of the first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// SystemActor is the actor of events the platform causes on its own
// (reconciler transitions, expiries, bootstrap).
const SystemActor = "system"

// Audit actions. Subjects are "release/ID", "service/NAME", "user/NAME", …
// (made by ReleaseSubject and its siblings in audit_subject.go)
const (
	ActionServiceApplied   = "service.applied"
	ActionReleaseCreated   = "release.created"
	ActionReleaseApproved  = "release.approved"
	ActionReleaseRejected  = "release.rejected"
	ActionApprovalExpired  = "approval.expired"
	ActionApprovalsLapsed  = "release.approvals_lapsed"
	ActionReleaseQueued    = "release.queued"
	ActionReleaseStarted   = "release.started"
	ActionReleaseSucceeded = "release.succeeded"
	ActionReleaseFailed    = "release.failed"
	ActionReleaseCancelled = "release.cancelled"
	ActionReleaseRerun     = "release.rerun"
	ActionJobStarted       = "job.started"
	ActionJobFinished      = "job.finished"
	ActionJobRetry         = "job.retry"
	ActionUserCreated      = "user.created"
	ActionGroupMemberAdded = "group.member_added"
	ActionTokenCreated     = "token.created"
	ActionTokenRevoked     = "token.revoked"
	ActionAccessDenied     = "access.denied"

	ActionRollbackPending     = "rollback.pending"
	ActionRollbackUnavailable = "rollback.unavailable"
	ActionRollbackFired       = "rollback.fired"
	ActionRollbackHeld        = "rollback.held"
	ActionRollbackNow         = "rollback.now"
	ActionRollbackCalledOff   = "rollback.called_off"
	ActionRollbackFailed      = "rollback.failed"
	ActionReleaseRolledBack   = "release.rolled_back"
	ActionProbeFailed         = "check.failed"

	ActionRolloutStep     = "rollout.step"     // the canary weight changed
	ActionRolloutPaused   = "rollout.paused"   // waiting for shipgate promote
	ActionRolloutPromoted = "rollout.promoted" // a person promoted a paused rollout
	ActionRolloutAborted  = "rollout.aborted"  // traffic back on stable
	ActionRolloutDone     = "rollout.completed"
	ActionAnalysisJudged  = "analysis.judged" // an analysis failed or was inconclusive

	ActionAgentTokenCreated = "agent_token.created"
	ActionAgentTokenRevoked = "agent_token.revoked"
	ActionAgentRegistered   = "agent.registered"
	ActionAgentDrained      = "agent.drained"
	ActionAgentResumed      = "agent.resumed"
)

// NewAuditEvent makes an event with canonical details; the store assigns
// seq and hashes when it appends it.
func NewAuditEvent(actor, action, subject string, details map[string]any) AuditEvent {
	if details == nil {
		details = map[string]any{}
	}
	b, err := CanonicalJSON(details)
	if err != nil {
		panic(fmt.Sprintf("shipgate: audit details not encodable: %v", err)) // details are plain data
	}
	return AuditEvent{Actor: actor, Action: action, Subject: subject, Details: b}
}

// ComputeHash returns the chain hash of e given its PrevHash: sha256 of
// PrevHash followed by the canonical JSON object
// {"seq","at","actor","action","subject","details"}. The time is hashed at
// microsecond precision in UTC, which every supported database stores
// exactly. Details are hashed as the bytes written at append time (already
// canonical, see NewAuditEvent), so any change to them — even whitespace —
// breaks the hash.
func (e *AuditEvent) ComputeHash() (string, error) {
	if !json.Valid(e.Details) {
		return "", fmt.Errorf("details are not valid JSON")
	}
	sum := sha256.Sum256(e.appendHashInput(make([]byte, 0, 160+len(e.Details)+len(e.Actor)+len(e.Subject))))
	return hex.EncodeToString(sum[:]), nil
}

// AuditVerifier checks a chain one event at a time, in seq order, so a
// chain of any length is verified in constant memory.
type AuditVerifier struct {
	buf      []byte // reused for every event's hash input (audit_hash.go)
	n        int64
	lastSeq  int64
	lastHash string
	prevHash string // the hash of the event before lastSeq
	resumed  bool

	// checkpoints the chain is held to (checkpoint.go)
	anchors      []AuditCheckpoint
	anchored     int
	newestAnchor *AuditCheckpoint
}

// Add checks the next event. It returns an error naming the first bad seq.
func (v *AuditVerifier) Add(e *AuditEvent) error {
	wantSeq, wantPrev := v.lastSeq+1, v.lastHash
	if v.n == 0 && !v.resumed {
		wantPrev = GenesisHash
	}
	if e.Seq != wantSeq {
		if e.Seq > wantSeq {
			return v.broken(wantSeq, "event missing (next stored event is seq %d)", e.Seq)
		}
		return v.broken(e.Seq, "out of order after seq %d", v.lastSeq)
	}
	if e.PrevHash != wantPrev {
		return v.broken(e.Seq, "prev_hash does not match the hash of seq %d", v.lastSeq)
	}
	ok, err := v.hashMatches(e)
	if err != nil {
		return v.broken(e.Seq, "%v", err)
	}
	if !ok {
		return v.broken(e.Seq, "content does not match its hash (edited)")
	}
	if err := v.checkAnchor(e); err != nil {
		return err
	}
	v.n++
	v.prevHash = v.lastHash
	v.lastSeq, v.lastHash = e.Seq, e.Hash
	return nil
}

// Count is the number of events verified so far.
func (v *AuditVerifier) Count() int64 { return v.n }

// Finish checks the end of the chain against the head the server recorded,
// which catches events removed from the end, and against the checkpoints
// given to Anchor.
func (v *AuditVerifier) Finish(headSeq int64, headHash string) error {
	if headSeq != v.lastSeq {
		if headSeq > v.lastSeq {
			return v.broken(v.lastSeq+1, "the log ends at seq %d but the recorded head is seq %d (events removed)", v.lastSeq, headSeq)
		}
		// The events up to the head were good; the verifier no longer
		// holds the head's hash.
		return &AuditChainBroken{Seq: headSeq + 1, LastGoodSeq: headSeq, Problem: fmt.Sprintf("event after the recorded head seq %d", headSeq)}
	}
	if headSeq > 0 && headHash != v.lastHash {
		// The last event itself is in doubt: the one before it is the
		// last good one.
		b := &AuditChainBroken{Seq: headSeq, LastGoodSeq: headSeq - 1, LastGoodHash: v.prevHash, Problem: "hash differs from the recorded head"}
		if v.n == 1 && !v.resumed {
			b.LastGoodHash = GenesisHash
		}
		return b
	}
	return v.finishAnchors()
}

// AuditFilter selects audit events.
type AuditFilter struct {
	AfterSeq int64
	// UpToSeq, when positive, leaves out events after it: a reader that
	// took the head first streams exactly the chain that head closes.
	UpToSeq   int64
	Since     *time.Time
	ReleaseID int64
	Limit     int

	// Until, when set, leaves out events at or after it (Since..Until is a
	// half-open range).
	Until *time.Time
	// Actor and Subject select events of exactly that actor or subject;
	// ActionPrefix those whose action starts with it ("release." or a
	// whole action such as "release.approved").
	Actor, Subject, ActionPrefix string
	// Newest reads newest first: events before BeforeSeq (all when 0),
	// highest seq first. A browser's page of the log; a verifier reads in
	// seq order.
	Newest    bool
	BeforeSeq int64
}

package shipgate

import (
	"fmt"
	"strconv"
	"time"
)

// The live state of flags (issue 15). A service file declares flags; the
// server keeps the live definition of each flag of each service in each
// environment (FlagState), changed by the file, by people (flag set,
// enable, disable, rollout, kill) and by rollback mitigations. Every change
// is a FlagChange, recorded whether it applied at once or waited for
// approval, and audited with its actor, reason and before/after.

// FlagState is the live definition of one flag of a service in an
// environment: what evaluations serve right now.
type FlagState struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Flag        Flag   `json:"flag"`
	// Version increases with every change of this flag, so a change
	// approved after another one applied is refused instead of undoing it.
	Version int64 `json:"version"`
	// Declared says the current service file declares the flag; a flag
	// only set by people is not declared.
	Declared  bool      `json:"declared"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FlagChangeOp is what a flag change does.
type FlagChangeOp string

// Flag change operations.
const (
	FlagOpFile       FlagChangeOp = "file"       // a service file applied a new definition
	FlagOpSet        FlagChangeOp = "set"        // a person replaced the definition
	FlagOpEnable     FlagChangeOp = "enable"     // a disabled (killed, mitigated) flag serves its rules again
	FlagOpDisable    FlagChangeOp = "disable"    // a governed switch to the safe variant
	FlagOpRollout    FlagChangeOp = "rollout"    // the flag's percentage rollout changed
	FlagOpKill       FlagChangeOp = "kill"       // the incident switch: safe variant now, no approval
	FlagOpMitigation FlagChangeOp = "mitigation" // a failed release's rollback policy flipped the flag
	FlagOpRemove     FlagChangeOp = "remove"     // the service file no longer declares the flag
)

// FlagChangeState is where a flag change is.
type FlagChangeState string

// Flag change states. A change applies at once unless its environment
// requires approvals for flag changes (flag_approvals); then it waits.
const (
	FlagChangePending    FlagChangeState = "pending"
	FlagChangeApplied    FlagChangeState = "applied"
	FlagChangeRejected   FlagChangeState = "rejected"
	FlagChangeSuperseded FlagChangeState = "superseded" // the flag changed after it was asked for
	FlagChangeExpired    FlagChangeState = "expired"
)

// FlagChange is one change of one flag, applied or waiting.
type FlagChange struct {
	ID          int64           `json:"id"`
	Service     string          `json:"service"`
	Environment string          `json:"environment"`
	Key         string          `json:"key"`
	Op          FlagChangeOp    `json:"op"`
	State       FlagChangeState `json:"state"`
	Reason      string          `json:"reason"`
	// Before is the definition the change starts from (nil for a new
	// flag), After what it makes (nil when the flag is removed).
	Before *Flag `json:"before"`
	After  *Flag `json:"after"`
	// BaseVersion is the flag's version the change was asked against.
	BaseVersion int64 `json:"base_version"`
	// ReleaseID is the release whose rollback mitigation made the change,
	// or that a "flag kill --release" turned off.
	ReleaseID   int64                `json:"release_id,omitempty"`
	RequestedBy string               `json:"requested_by"`
	RequestedAt time.Time            `json:"requested_at"`
	Approvals   []FlagChangeApproval `json:"approvals,omitempty"`
	DecidedBy   string               `json:"decided_by,omitempty"`
	DecidedAt   *time.Time           `json:"decided_at,omitempty"`
	// Awaiting, on a pending change, says who it waits for ("needs 1
	// more approval (of 1): alice or bob may approve; …"); computed when
	// read, never stored.
	Awaiting string `json:"awaiting,omitempty"`
}

// FlagChangeApproval is one approver's yes to a pending flag change.
type FlagChangeApproval struct {
	Approver string    `json:"approver"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

// FlagMitigation is a flag a rollback policy flips when the release's
// health gate or canary analysis fails, before (or instead of) the
// redeploy: Variant, or the flag's safe variant when empty.
type FlagMitigation struct {
	Flag    string `json:"flag"`
	Variant string `json:"variant,omitempty"`
}

// SDKKey is a read-only key an OpenFeature SDK presents to evaluate the
// flags of one environment over OFREP. The server keeps only its hash.
type SDKKey struct {
	ID          int64      `json:"id"`
	Environment string     `json:"environment"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"` // the first characters, to tell keys apart
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedBy   string     `json:"revoked_by,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
}

// Audit actions of flags.
const (
	ActionFlagChanged         = "flag.changed"          // a change applied (data: op, reason, before, after)
	ActionFlagKilled          = "flag.killed"           // the kill switch: incident-grade
	ActionFlagMitigated       = "flag.mitigated"        // a failed release's rollback policy flipped it
	ActionFlagChangeRequested = "flag.change_requested" // waits for approval
	ActionFlagChangeApproved  = "flag.change_approved"
	ActionFlagChangeRejected  = "flag.change_rejected"
	ActionFlagChangeDropped   = "flag.change_dropped" // superseded or expired
	ActionSDKKeyCreated       = "sdk_key.created"
	ActionSDKKeyRevoked       = "sdk_key.revoked"
)

// FlagSubject is the audit subject of a flag of a service in an environment.
func FlagSubject(service, env, key string) string {
	return "flag/" + service + "/" + env + "/" + key
}

// FlagChangeSubject is the audit subject of a pending flag change.
func FlagChangeSubject(id int64) string { return "flag_change/" + strconv.FormatInt(id, 10) }

// SDKKeySubject is the audit subject of an SDK key.
func SDKKeySubject(id int64) string { return "sdk_key/" + strconv.FormatInt(id, 10) }

// MaxFlagReasonLen bounds the reason of a flag change.
const MaxFlagReasonLen = 500

// Describe says in a few words what a change does, for notifications and
// the timeline: "kill new-checkout in prod: serves off".
func (c *FlagChange) Describe() string {
	switch {
	case c.After == nil:
		return fmt.Sprintf("%s %s in %s: removed", c.Op, c.Key, c.Environment)
	case c.After.Disabled:
		return fmt.Sprintf("%s %s in %s: serves %s to everyone", c.Op, c.Key, c.Environment, c.After.Served())
	default:
		return fmt.Sprintf("%s %s in %s", c.Op, c.Key, c.Environment)
	}
}

package shipgate

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// ReleaseState is where a release is in its lifecycle:
//
//	pending_approval ──► queued ──► running ──► succeeded ──┐
//	      │  └► rejected    │  ▲        │  └──► failed ─────┼──► rolled_back
//	      └──────────────── cancelled ◄─┘         │          │
//	                           └──── rerun ◄──────┘          │
//	                 (a rollback release that replaces it succeeds)
//
// Final reports the states in which nothing more happens by itself:
// succeeded, failed, rejected, cancelled and rolled_back. Of those, a failed
// release may be rerun (back to queued with a new run number), and a
// succeeded or failed release becomes rolled_back when a rollback release
// that replaces it succeeds; rejected, cancelled and rolled_back never
// change again. A queued release whose approvals expired or were withdrawn
// before it started goes back to pending_approval, and a rollback release
// that needs no approval is created queued. The complete diagram is
// generated from the decider's transition table (internal/decide/table.go)
// into docs/architecture.md.
type ReleaseState string

// Release states.
const (
	StatePendingApproval ReleaseState = "pending_approval"
	StateQueued          ReleaseState = "queued"
	StateRunning         ReleaseState = "running"
	StateSucceeded       ReleaseState = "succeeded"
	StateFailed          ReleaseState = "failed"
	StateRejected        ReleaseState = "rejected"
	StateCancelled       ReleaseState = "cancelled"
	// StateRolledBack ends a release that a rollback release replaced.
	StateRolledBack ReleaseState = "rolled_back"
)

// Final reports whether nothing more will happen to a release in state s on
// its own. A failed release is final but may be rerun by a person.
func (s ReleaseState) Final() bool {
	switch s {
	case StateSucceeded, StateFailed, StateRejected, StateCancelled, StateRolledBack:
		return true
	}
	return false
}

// ReleaseStates lists every release state, in lifecycle order.
var ReleaseStates = []ReleaseState{StatePendingApproval, StateQueued, StateRunning, StateSucceeded, StateFailed, StateRejected, StateCancelled, StateRolledBack}

// ParseReleaseState returns the state named s, or an invalid error naming
// the states there are: a filter on a misspelt state must not quietly
// match nothing.
func ParseReleaseState(s string) (ReleaseState, error) {
	for _, st := range ReleaseStates {
		if string(st) == s {
			return st, nil
		}
	}
	names := make([]string, len(ReleaseStates))
	for i, st := range ReleaseStates {
		names[i] = string(st)
	}
	return "", Errorf(EINVALID, "%q is not a release state: use %s", s, strings.Join(names, ", "))
}

// Release kinds: ordinary deploys, and rollbacks that restore an earlier
// release's artifact, inputs and pipeline.
const (
	ReleaseKindDeploy   = "deploy"
	ReleaseKindRollback = "rollback"
)

// Who triggered a rollback.
const (
	TriggeredByPolicy = "policy"
	TriggeredByUser   = "user"
)

// Artifact is what a release deploys, pinned by its sha256.
type Artifact struct {
	Location string `json:"location"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	// Stored says the server copied exactly the bytes it hashed into its
	// artifact store when the release was created, and serves agents from
	// there only: Location is never read again. It is false for a URL
	// artifact larger than the server keeps (agents download the URL and
	// check the digest) and for releases created before the store existed
	// (whose path the server imports on first use, if the bytes there still
	// have the digest). omitempty keeps those releases' digests unchanged.
	Stored bool `json:"stored,omitempty"`
}

// Source is where the artifact came from.
type Source struct {
	Commit      string     `json:"commit,omitempty"`
	CommittedAt *time.Time `json:"committed_at,omitempty"`
	Ref         string     `json:"ref,omitempty"`
}

// ReleaseContent is everything a release freezes at creation and its digest
// covers. Approvers approve exactly this.
type ReleaseContent struct {
	Service         string            `json:"service"`
	ServiceRevision int               `json:"service_revision"`
	Environment     string            `json:"environment"`
	Version         string            `json:"version"`
	Kind            string            `json:"kind"`
	Artifact        Artifact          `json:"artifact"`
	Source          Source            `json:"source"`
	Inputs          map[string]string `json:"inputs"`
	// SecretInputs maps each secret input name to a keyed fingerprint of its
	// value, so a changed secret changes the digest without revealing it.
	SecretInputs map[string]string `json:"secret_inputs"`
	// InputDeclarations freezes the input declarations the inputs were
	// checked against (the service's merged with the environment's), so
	// approvers see what each input means and a later revision changes
	// nothing here. nil when the service declared none; omitzero keeps
	// older digests unchanged. A rollback release carries its target's.
	InputDeclarations []InputDecl `json:"input_declarations,omitzero"`
	// DefaultedInputs names the inputs whose value in Inputs is the
	// declared default, filled in because they were not given.
	DefaultedInputs []string    `json:"defaulted_inputs,omitempty"`
	Pipeline        Pipeline    `json:"pipeline"`
	Policy          Environment `json:"policy"`
	// ApproverGroups freezes, for each group the policy takes approvers
	// from, its enabled members when the release was created: only they
	// may decide it (see CheckApprover). It is part of the digest, so an
	// approver approves who else may approve too. Releases created before
	// shipgate froze membership have none (omitted, so their digests are
	// unchanged); the store then counts the members whose membership
	// began no later than the release.
	ApproverGroups map[string][]string `json:"approver_groups,omitempty"`
	CreatedBy      string              `json:"created_by"`
	CreatedAt      time.Time           `json:"created_at"`
	// RollbackOf is the release a rollback release replaces, RestoresRelease
	// the earlier release whose artifact, inputs and pipeline it restores,
	// and TriggeredBy says whether the policy or a person asked for it.
	RollbackOf      int64  `json:"rollback_of,omitempty"`
	RestoresRelease int64  `json:"restores_release,omitempty"`
	TriggeredBy     string `json:"triggered_by,omitempty"`
	// ApprovalSkipped, on a rollback release, says why it needs no
	// approval: it restores a version approved and succeeded here before.
	ApprovalSkipped string `json:"approval_skipped,omitempty"`
	// RollbackStrategyNote, on a rollback release, says why it moves all
	// traffic at once although its environment has a rollback_strategy:
	// the strategy does not fit the restored release's pipeline.
	RollbackStrategyNote string `json:"rollback_strategy_note,omitempty"`
	// Owner and Runbook are the service's owner group and runbook URL when
	// the release was created (policies read release.owner and
	// release.runbook). omitempty keeps older digests unchanged.
	Owner   string `json:"owner,omitempty"`
	Runbook string `json:"runbook,omitempty"`
	// Flags names the flags this release introduces (release create
	// --flag), so "flag kill --release" turns off everything it turned
	// on. omitempty keeps older digests.
	Flags []string `json:"flags,omitempty"`
	// HotfixOf is the earlier deployment of this service and environment
	// that this release fixes forward (release create --hotfix): DORA
	// counts that deployment as failed and this one as rework (see
	// internal/dora). omitempty keeps older digests.
	HotfixOf int64 `json:"hotfix_of,omitempty"`
}

// Digest returns "sha256:<hex>" over the canonical JSON of the content.
func (c *ReleaseContent) Digest() string {
	cc := *c
	cc.CreatedAt = cc.CreatedAt.UTC()
	b, err := CanonicalJSON(cc)
	if err != nil {
		panic(fmt.Sprintf("shipgate: release content not encodable: %v", err)) // plain data only
	}
	return "sha256:" + SHA256Hex(b)
}

// Release is an immutable snapshot of what to deploy where, plus the mutable
// bookkeeping of its lifecycle (state, reason, run number).
type Release struct {
	ID int64 `json:"id"`
	ReleaseContent
	Digest string `json:"digest"`

	State ReleaseState `json:"state"`
	// Reason explains the current state in a sentence: why it waits, why it
	// failed, who cancelled it.
	Reason string `json:"reason,omitempty"`
	// WaitUntil is when the release next changes on its own, if known: the
	// opening of a deploy window, the expiry of an approval.
	WaitUntil *time.Time `json:"wait_until,omitempty"`
	// Run is the number of the current or last run; 0 before the first.
	Run        int        `json:"run"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// SucceededAt is when the release succeeded; it survives a later
	// rollback of the release.
	SucceededAt *time.Time `json:"succeeded_at,omitempty"`
	// Generation increases with every change so concurrent writers detect
	// each other (optimistic concurrency).
	Generation int64 `json:"generation"`
}

// RollbackTriggered reports whether a failure of this release triggers its
// rollback policy. failedJob names the job whose failure failed it ("" for
// none): with check_target naming a job, only that job's failure counts.
// A rollback release never triggers another rollback.
func (r *Release) RollbackTriggered(failedJob string) bool {
	p := r.Policy.Rollback
	if !p.Enabled || r.Kind == ReleaseKindRollback {
		return false
	}
	return p.CheckTarget == "" || p.CheckTarget == CheckTargetPipeline || p.CheckTarget == failedJob
}

// Bounds of the free text a release carries.
const (
	maxCommitLen   = 128
	maxRefLen      = 256
	maxArtifactLen = 4096
	// MaxCommentLen bounds approval and promotion comments and the reasons
	// given for a cancel.
	MaxCommentLen = 2000
)

// ValidateNewRelease checks the text a person gives for a new release: the
// version (see ValidateVersion), and an artifact location, commit and ref
// that are each one line of printable text. It runs at the API, before the
// artifact is read, and again in the store.
func ValidateNewRelease(version, artifact string, src Source) error {
	if err := ValidateVersion(version); err != nil {
		return err
	}
	if err := ValidateLine("artifact", artifact, maxArtifactLen); err != nil {
		return err
	}
	if err := ValidateLine("commit", src.Commit, maxCommitLen); err != nil {
		return err
	}
	return ValidateLine("ref", src.Ref, maxRefLen)
}

// ValidateInputs checks input names: they become environment variables
// SHIPGATE_INPUT_<NAME>, so they must be usable as such.
func ValidateInputs(inputs map[string]string, secrets []string) error {
	seen := map[string]bool{}
	check := func(k string) error {
		if k == "" {
			return Errorf(EINVALID, "input names must not be empty")
		}
		for i, r := range k {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
				return Errorf(EINVALID, "input name %q is not valid: use letters, digits and '_', starting with a letter", k)
			}
		}
		u := strings.ToUpper(k)
		if seen[u] {
			return Errorf(EINVALID, "input %q is given twice", k)
		}
		seen[u] = true
		return nil
	}
	for _, k := range sortedKeys(inputs) {
		if err := check(k); err != nil {
			return err
		}
		if strings.ContainsRune(inputs[k], 0) {
			return Errorf(EINVALID, "input %q contains a NUL character, which no environment variable can hold", k)
		}
	}
	for _, k := range secrets {
		if err := check(k); err != nil {
			return err
		}
	}
	return ValidateInputSizes(inputs, nil)
}

// InputEnvName is the environment variable through which a step sees an
// input.
func InputEnvName(name string) string { return "SHIPGATE_INPUT_" + strings.ToUpper(name) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ReleaseFilter selects releases for listing.
type ReleaseFilter struct {
	Service     string
	Environment string
	Version     string
	States      []ReleaseState
	// CreatedBy keeps the releases this user created.
	CreatedBy string
	Limit     int
	BeforeID  int64
}

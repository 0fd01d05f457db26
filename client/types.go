package client

import (
	"time"

	"github.com/shipgate/shipgate"
)

// The request and response shapes of the API, shared by the server
// (internal/httpapi encodes and decodes exactly these) and this client.

// ApplyRequest carries a service file as written, so the server parses it
// (one parser, one set of rules) and keeps the source in the history.
type ApplyRequest struct {
	Filename string `json:"filename"`
	Source   string `json:"source"`
	// AllowUnknownGroups applies the file although from_groups names
	// groups that have no members yet (nobody could approve there until
	// they do); the server audits it and answers with warnings.
	AllowUnknownGroups bool `json:"allow_unknown_groups,omitempty"`
}

// DecisionRequest approves or rejects the release with this digest.
type DecisionRequest struct {
	Digest  string `json:"digest"`
	Comment string `json:"comment,omitempty"`
}

// CancelRequest says why a release is cancelled.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// CreateUserRequest creates a user.
type CreateUserRequest struct {
	Name   string          `json:"name"`
	Roles  []shipgate.Role `json:"roles"`
	Groups []string        `json:"groups,omitempty"`
}

// CreateTokenRequest creates a token for a user.
type CreateTokenRequest struct {
	User string `json:"user"`
	Name string `json:"name,omitempty"`
	// ExpiresIn is how long the token works ("720h", "30d"). Zero means
	// the server's maximum token lifetime if it has one, else no expiry;
	// more than the maximum is refused.
	ExpiresIn shipgate.Duration `json:"expires_in,omitempty"`
}

// SetRolesRequest replaces a user's roles.
type SetRolesRequest struct {
	Roles []shipgate.Role `json:"roles"`
}

// DisableUserRequest disables a user, saying why for the audit log.
type DisableUserRequest struct {
	Reason string `json:"reason,omitempty"`
}

// AddMemberRequest adds a user to a group.
type AddMemberRequest struct {
	User string `json:"user"`
}

// ApplyResult says whether applying a file created a new revision.
type ApplyResult struct {
	Changed  bool                      `json:"changed"`
	Revision *shipgate.ServiceRevision `json:"revision"`
	// Warnings are file:line notes on what was applied anyway, such as
	// from_groups allowed with --allow-unknown-groups.
	Warnings []string `json:"warnings,omitempty"`
}

// CreateReleaseRequest prepares a release.
type CreateReleaseRequest struct {
	Service      string            `json:"service"`
	Environment  string            `json:"environment"`
	Version      string            `json:"version"`
	Artifact     string            `json:"artifact"`
	SHA256       string            `json:"sha256,omitempty"`
	Inputs       map[string]string `json:"inputs,omitempty"`
	SecretInputs map[string]string `json:"secret_inputs,omitempty"`
	Commit       string            `json:"commit,omitempty"`
	CommittedAt  *time.Time        `json:"committed_at,omitempty"`
	Ref          string            `json:"ref,omitempty"`
	// Flags names the flags the release introduces: live flags of the
	// service in the environment (at most 32).
	Flags []string `json:"flags,omitempty"`
	// Hotfix marks the release a fix-forward of an earlier failed or
	// degraded deployment of the service in the environment: Fixes, or
	// when 0 the release currently deployed there.
	Hotfix bool  `json:"hotfix,omitempty"`
	Fixes  int64 `json:"fixes,omitempty"`
}

// ReleaseView is a release with everything needed to understand where it
// is: approvals, the tally against the policy, the jobs of its current run,
// and its timeline from the audit log.
type ReleaseView struct {
	*shipgate.Release
	Approvals []shipgate.Approval     `json:"approvals"`
	Tally     *shipgate.ApprovalTally `json:"tally,omitempty"`
	// MayApprove, for a pending release whose approvers were frozen from
	// groups, is who of them may approve it now: still a member, enabled,
	// with the approver role, and not its creator unless self-approval is
	// allowed (shipgate.EligibleApprovers); those who already approved
	// are in it too.
	MayApprove []string          `json:"may_approve,omitempty"`
	Jobs       []shipgate.JobRun `json:"jobs"`
	// Probes are the health-check probes of the current run, the latest
	// per job and attempt.
	Probes []JobProbes `json:"probes,omitempty"`
	// Rollouts are the latest rollout status of each job attempt of the
	// current run that moves traffic to the new version.
	Rollouts []Rollout `json:"rollouts,omitempty"`
	// Rollback is this release's rollback, if its policy asked for one or
	// someone rolled it back.
	Rollback *shipgate.Rollback `json:"rollback,omitempty"`
	// Timeline is every audit event of the release, and of its rollback
	// release, in order.
	Timeline []shipgate.AuditEvent `json:"timeline"`
	// LegacyApproverGroups, for a release created before shipgate froze
	// group membership into releases (it has no approver_groups), is the
	// membership that counts for it: members of each from_groups group
	// whose membership began no later than the release's creation.
	LegacyApproverGroups map[string][]string `json:"legacy_approver_groups,omitempty"`
	// Warnings, only in the answer to creating a release, are things the
	// creator should know that did not stop the release: inputs given to
	// a service that declares none, so nothing checked them.
	Warnings []string `json:"warnings,omitempty"`
	// Checklist is the release's checklist evaluated now, with who ticked
	// what; FreezeOverride its emergency override of freezes, if asked.
	Checklist      []shipgate.ChecklistItemState `json:"checklist,omitempty"`
	FreezeOverride *shipgate.FreezeOverride      `json:"freeze_override,omitempty"`
}

// JobProbes is the probes of one job attempt.
type JobProbes struct {
	Job     string                 `json:"job"`
	Attempt int                    `json:"attempt"`
	Probes  []shipgate.ProbeResult `json:"probes"`
}

// RollbackRequest rolls an environment back by hand.
type RollbackRequest struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// ToVersion restores this version; empty means the last release that
	// succeeded before the current one.
	ToVersion string `json:"to_version,omitempty"`
	// Reason says why, for the audit log and the release's timeline.
	Reason string `json:"reason,omitempty"`
}

// RollbackActionRequest holds or fires a pending rollback, saying why.
type RollbackActionRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RollbackCallOffRequest calls off a pending or held rollback; the reason
// is required.
type RollbackCallOffRequest struct {
	Reason string `json:"reason"`
}

// Logs is a page of log chunks. Done is true when the selected jobs have
// finished and every chunk up to Next has been returned.
type Logs struct {
	Run    int                 `json:"run"`
	Chunks []shipgate.LogChunk `json:"chunks"`
	Next   int64               `json:"next"`
	Done   bool                `json:"done"`
}

// AuditPage is a page of the audit log plus the chain head at the time of
// reading, so a client can verify the chain end to end itself.
type AuditPage struct {
	Events []shipgate.AuditEvent `json:"events"`
	Head   AuditHead             `json:"head"`
}

// AuditHead is the last event's seq and hash.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// AuditPublicKey is the key that verifies a server's audit checkpoints,
// in shipgate's text form (ed25519:<base64>) and as PEM.
type AuditPublicKey struct {
	PublicKey string `json:"public_key"`
	KeyID     string `json:"key_id"`
	PEM       string `json:"pem"`
}

// NewToken is a freshly created token and its secret, shown once.
type NewToken struct {
	Token  *shipgate.Token `json:"token"`
	Secret string          `json:"secret"`
}

// RegisterAgentRequest joins an agent to the server.
type RegisterAgentRequest struct {
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels"`
	Version  string            `json:"version,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	// InstanceID identifies the agent's work dir. It is recorded for
	// admins; it proves nothing.
	InstanceID string `json:"instance_id,omitempty"`
	// CurrentSecret is the secret the agent's previous registration
	// returned. Registering a name whose agent is live needs it: only that
	// agent may take its name over (a restart). A lost agent's name can be
	// taken with its join token alone.
	CurrentSecret string `json:"current_secret,omitempty"`
}

// AgentRegistration is the registered agent and the secret it uses from
// then on; a later registration of the same name replaces the secret.
type AgentRegistration struct {
	Agent  *shipgate.Agent `json:"agent"`
	Secret string          `json:"secret"`
}

// ClaimRequest asks for a job, waiting up to WaitMillis for one.
type ClaimRequest struct {
	ClaimID    string `json:"claim_id"`
	WaitMillis int64  `json:"wait_ms"`
}

// ClaimResponse carries an assignment, or none.
type ClaimResponse struct {
	Assignment *shipgate.Assignment `json:"assignment"`
	// Draining says the agent is draining and gets no new jobs.
	Draining bool `json:"draining,omitempty"`
}

// AttemptRequest names one attempt.
type AttemptRequest struct {
	Key shipgate.AttemptKey `json:"key"`
}

// LogsRequest ships log chunks of an attempt.
type LogsRequest struct {
	Key    shipgate.AttemptKey `json:"key"`
	Chunks []shipgate.LogChunk `json:"chunks"`
}

// FinishRequest reports an attempt's outcome.
type FinishRequest struct {
	Key     shipgate.AttemptKey `json:"key"`
	Outcome shipgate.JobOutcome `json:"outcome"`
}

// DrainRequest starts or ends draining an agent.
type DrainRequest struct {
	Draining bool `json:"draining"`
}

// CreateAgentTokenRequest creates an agent join token.
type CreateAgentTokenRequest struct {
	Name string `json:"name,omitempty"`
	// Scope lists labels its agents must have with exactly these values;
	// their other labels are free.
	Scope map[string]string `json:"scope,omitempty"`
	// Envs limits its agents to jobs of these environments; empty: all.
	Envs []string `json:"envs,omitempty"`
	// ExpiresIn, if set, is how long the token registers new agents.
	ExpiresIn shipgate.Duration `json:"expires_in,omitempty"`
}

// NewAgentToken is a freshly created join token and its secret, shown once.
type NewAgentToken struct {
	Token  *shipgate.AgentToken `json:"token"`
	Secret string               `json:"secret"`
}

// ProbesRequest reports health-check probes of an attempt.
type ProbesRequest struct {
	Key       shipgate.AttemptKey    `json:"key"`
	Probes    []shipgate.ProbeResult `json:"probes"`
	Recovered bool                   `json:"recovered,omitempty"`
}

// Notification is an outbox row as the API lists it.
type Notification = shipgate.Notification

// RolloutRequest reports the progress of a rollout of an attempt.
type RolloutRequest struct {
	Key    shipgate.AttemptKey    `json:"key"`
	Status shipgate.RolloutStatus `json:"status"`
}

// Rollout is the latest status of a rollout as the API answers it.
type Rollout = shipgate.Rollout

// PromoteRequest continues a rollout paused for a person.
type PromoteRequest struct {
	Comment string `json:"comment,omitempty"`
}

// ReleaseComparison is what a release changes against the release that
// runs in its service and environment now (GET /releases/{id}/compare).
type ReleaseComparison struct {
	ReleaseID int64 `json:"release_id"`
	// Current is the release running there now; nil when nothing has run
	// there yet (the first release in the environment).
	Current *shipgate.Release `json:"current,omitempty"`
	// SameRelease says the release is itself the one running now.
	SameRelease bool `json:"same_release,omitempty"`
	// PipelineDigest and PolicyDigest identify the release's frozen
	// pipeline and environment policy.
	PipelineDigest string                   `json:"pipeline_digest"`
	PolicyDigest   string                   `json:"policy_digest"`
	Changes        []shipgate.ReleaseChange `json:"changes"`
}

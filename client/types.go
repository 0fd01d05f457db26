package client

import (
	"time"

	"github.com/shipgate/shipgate"
)

// The request and response shapes of the API. They mirror the server's and
// are declared here so the client depends only on the domain package.

// ApplyResult says whether applying a file created a new revision.
type ApplyResult struct {
	Changed  bool                      `json:"changed"`
	Revision *shipgate.ServiceRevision `json:"revision"`
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
}

// ReleaseView is a release with approvals, tally, jobs and timeline.
type ReleaseView struct {
	*shipgate.Release
	Approvals []shipgate.Approval     `json:"approvals"`
	Tally     *shipgate.ApprovalTally `json:"tally,omitempty"`
	Jobs      []shipgate.JobRun       `json:"jobs"`
	Timeline  []shipgate.AuditEvent   `json:"timeline"`
}

// Logs is a page of log chunks.
type Logs struct {
	Run    int                 `json:"run"`
	Chunks []shipgate.LogChunk `json:"chunks"`
	Next   int64               `json:"next"`
	Done   bool                `json:"done"`
}

// AuditPage is a page of audit events with the chain head.
type AuditPage struct {
	Events []shipgate.AuditEvent `json:"events"`
	Head   struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
	} `json:"head"`
}

// Group is a named set of users.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// NewToken is a freshly created token and its secret, shown once.
type NewToken struct {
	Token  *shipgate.Token `json:"token"`
	Secret string          `json:"secret"`
}

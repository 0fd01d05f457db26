package shipgate

import "time"

// RollbackState is where the rollback of a failed release is.
//
//	pending ──(delay over, or "rollback now")──► fired ──► done | failed
//	   │ └──(check recovered)──► called_off
//	   └──("rollback hold")──► held ──("rollback now")──► fired
//
// unavailable records that the policy wanted a rollback and found nothing
// to roll back to.
type RollbackState string

// Rollback states.
const (
	RollbackPending     RollbackState = "pending"
	RollbackHeld        RollbackState = "held"
	RollbackCalledOff   RollbackState = "called_off"
	RollbackFired       RollbackState = "fired"
	RollbackDone        RollbackState = "done"
	RollbackFailed      RollbackState = "failed"
	RollbackUnavailable RollbackState = "unavailable"
)

// Rollback is the rollback of one release: what it restores, when it
// fires, and how it ended.
type Rollback struct {
	ReleaseID   int64         `json:"release_id"`
	State       RollbackState `json:"state"`
	Reason      string        `json:"reason"`
	TriggeredBy string        `json:"triggered_by"`
	// TargetID is the release whose artifact, inputs and pipeline are
	// restored; TargetVersion its version.
	TargetID      int64      `json:"target_id,omitempty"`
	TargetVersion string     `json:"target_version,omitempty"`
	FiresAt       *time.Time `json:"fires_at,omitempty"`
	// RollbackRelease is the release created when the rollback fired.
	RollbackRelease int64     `json:"rollback_release,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Open reports whether the rollback still waits for its moment.
func (r *Rollback) Open() bool { return r.State == RollbackPending || r.State == RollbackHeld }

// ProbeResult is one probe of a health check.
type ProbeResult struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	LatencyMS int64     `json:"latency_ms"`
	OK        bool      `json:"ok"`
	Reason    string    `json:"reason,omitempty"`
	// Watch marks probes taken after the check failed, while its rollback
	// waited: they decide whether the rollback is called off.
	Watch bool `json:"watch,omitempty"`
}

// ProbeReply tells a runner watching a failed check whether to go on.
type ProbeReply struct {
	Stop bool `json:"stop"`
}

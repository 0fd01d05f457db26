package shipgate

import (
	"fmt"
	"slices"
	"time"
)

// JobState is where one job of a run is.
//
//	waiting ──► queued ──► running ──► succeeded | failed
//	   │          │ ▲          │ └──► cancelled (the release was cancelled)
//	   │          │ └──────────┘ (failed or lost attempt with attempts left,
//	   │          │               or handed back unstarted)
//	   └──────────┴──► skipped (a job it needs failed, or the run ended)
//
// A queued job the server cannot hand out fails (refused); a success
// reported after its lease ran out is taken. The complete diagram is
// generated from the decider's transition table (internal/decide/table.go)
// into docs/architecture.md.
type JobState string

// Job states.
const (
	JobWaiting   JobState = "waiting"   // some job it needs has not succeeded yet
	JobQueued    JobState = "queued"    // ready; waiting for a runner to claim it
	JobRunning   JobState = "running"   // claimed by a runner under a lease
	JobSucceeded JobState = "succeeded" // all steps exited 0 / check passed
	JobFailed    JobState = "failed"    // no attempts left
	JobSkipped   JobState = "skipped"   // never ran: a need failed or the run ended
	JobCancelled JobState = "cancelled" // stopped while running because the release was cancelled
)

// Final reports whether the job will not change any more in this run.
func (s JobState) Final() bool {
	switch s {
	case JobSucceeded, JobFailed, JobSkipped, JobCancelled:
		return true
	}
	return false
}

// JobRun is one job of one run of a release. Attempt counts the attempts
// started; each attempt is identified by (release, run, job, attempt), which
// is also the idempotency key a runner uses.
type JobRun struct {
	ID          int64      `json:"id"`
	ReleaseID   int64      `json:"release_id"`
	Run         int        `json:"run"`
	Name        string     `json:"name"`
	State       JobState   `json:"state"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	Runner      string     `json:"runner,omitempty"`
	ClaimID     string     `json:"-"`
	LeaseUntil  *time.Time `json:"lease_until,omitempty"`
	ExitCode    *int       `json:"exit_code,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	// Cause is why the job last left running (or never ran), as a fact
	// code acts on; Reason is the sentence for people.
	Cause      JobCause   `json:"cause,omitempty"`
	QueuedAt   *time.Time `json:"queued_at,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// LogTruncated counts bytes of output dropped from the front of the
	// job's log to keep it within the server's limit.
	LogTruncated int64 `json:"log_truncated,omitempty"`
}

// MayRetry reports whether a job whose attempt just ended without success
// (failed or lost) runs again: it has attempts left. The one retry rule of
// the reconciler (a lost lease) and of reports (a failed attempt).
func (j *JobRun) MayRetry() bool { return j.Attempt < j.MaxAttempts }

// JobCause is why a job's attempt ended, or why it never ran: what the
// server acts on (a report that arrives for a job already failed as lost
// is refused), where a sentence in Reason is only for people.
type JobCause string

// Job causes. Empty: running, waiting, or succeeded.
const (
	// JobCauseStepFailed: a step or the check of the attempt failed.
	JobCauseStepFailed JobCause = "step_failed"
	// JobCauseLost: the lease ran out; the runner died or lost contact.
	JobCauseLost JobCause = "lost"
	// JobCauseNotStarted: the attempt was handed back unstarted (too
	// often, when the job failed for it).
	JobCauseNotStarted JobCause = "not_started"
	// JobCauseRefused: the server could not hand the attempt out (its
	// artifact or secrets could not be prepared).
	JobCauseRefused JobCause = "refused"
	// JobCauseCancelled: the release was cancelled while it ran.
	JobCauseCancelled JobCause = "cancelled"
	// JobCauseSkipped: it never ran: a job it needs failed, or the release
	// ended first.
	JobCauseSkipped JobCause = "skipped"
)

// JobEnd is why an attempt of a job ended, or why the job never ran: the
// typed fact the server acts on (Cause) and the particulars its sentence
// needs. The sentence people read, JobRun.Reason, is rendered from it.
type JobEnd struct {
	Cause JobCause
	// Attempt is the attempt that ended.
	Attempt int
	// Runner is the agent whose lease ran out (lost).
	Runner string
	// Detail is what the runner or server said (step_failed, not_started,
	// refused), or why the job stopped or never ran (cancelled, skipped).
	Detail string
	// Retrying says the job is queued again for another attempt.
	Retrying bool
	// HandBacks counts the hand-backs of a job failed for them.
	HandBacks int
}

// Reason renders the end as the sentence a job's Reason holds.
func (e JobEnd) Reason() string {
	var s string
	switch e.Cause {
	case JobCauseLost:
		s = "lease expired on agent " + e.Runner
	case JobCauseStepFailed:
		s = e.Detail
		if e.Retrying {
			s = fmt.Sprintf("attempt %d failed: %s", e.Attempt, e.Detail)
		}
	case JobCauseNotStarted:
		if e.Retrying {
			return fmt.Sprintf("attempt %d was never started: %s", e.Attempt, e.Detail)
		}
		return fmt.Sprintf("handed back unstarted %d times; last: %s", e.HandBacks, e.Detail)
	default: // refused, cancelled, skipped
		s = e.Detail
	}
	if e.Retrying {
		s += "; retrying"
	}
	return s
}

// End records how the job's attempt ended (or why it never ran): its
// Cause, and its Reason rendered from it.
func (j *JobRun) End(e JobEnd) { j.Cause, j.Reason = e.Cause, e.Reason() }

// AttemptKey identifies one attempt of one job; runners use it to make a
// repeated delivery of the same attempt harmless.
type AttemptKey struct {
	ReleaseID int64  `json:"release_id"`
	Run       int    `json:"run"`
	Job       string `json:"job"`
	Attempt   int    `json:"attempt"`
}

// Assignment is what a runner receives when it claims a job: everything
// needed to execute it without reading the database.
type Assignment struct {
	Key        AttemptKey        `json:"key"`
	JobID      int64             `json:"job_id"`
	Service    string            `json:"service"`
	Env        string            `json:"environment"`
	Version    string            `json:"version"`
	Artifact   Artifact          `json:"artifact"`
	Job        Job               `json:"job"`
	Inputs     map[string]string `json:"inputs"`
	Secrets    map[string]string `json:"secrets,omitempty"`
	LeaseUntil time.Time         `json:"lease_until"`
	// LeaseTTL is how long each heartbeat extends the lease; runners
	// heartbeat well within it.
	LeaseTTL Duration `json:"lease_ttl"`
	// Watch, for a health check whose failure starts a delayed rollback,
	// is how long to keep probing after it failed: recovering within it
	// calls the rollback off.
	Watch Duration `json:"watch,omitempty"`
	// TraceParent, when the server exports traces, is the W3C traceparent
	// of this attempt's span in its release's trace: runners give it to
	// every step as TRACEPARENT (see docs/metrics.md "Traces").
	TraceParent string `json:"traceparent,omitempty"`
}

// JobOutcome is what a runner reports when an attempt ends.
type JobOutcome struct {
	Succeeded bool   `json:"succeeded"`
	ExitCode  *int   `json:"exit_code,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Cancelled is set when the runner stopped the attempt because it was
	// told the release was cancelled.
	Cancelled bool `json:"cancelled,omitempty"`
	// NotStarted says no step of the attempt was started (the runner lost
	// the assignment before acting on it). Such an attempt does not count
	// against the job's retries.
	NotStarted bool `json:"not_started,omitempty"`
}

// HeldAttempt is an attempt a runner holds, with the claim id it was
// claimed under; the id's prefix names the runner instance that claimed it.
type HeldAttempt struct {
	Key     AttemptKey `json:"key"`
	ClaimID string     `json:"claim_id"`
}

// ClaimRequest asks for a job. A runner makes up ClaimID for each claim and
// repeats it when it retries the same claim (a lost response, a server
// restart), so the server answers with the assignment it already made
// instead of handing out a second one.
type ClaimRequest struct {
	Runner  RunnerInfo    `json:"-"`
	ClaimID string        `json:"claim_id"`
	Wait    time.Duration `json:"wait"`
}

// LogChunk is a piece of a job attempt's output. Seq increases by one per
// chunk within an attempt, so a receiver can drop repeats and see gaps.
type LogChunk struct {
	JobID   int64     `json:"job_id"`
	Job     string    `json:"job"`
	Attempt int       `json:"attempt"`
	Seq     int64     `json:"seq"`
	Stream  string    `json:"stream"`
	Data    string    `json:"data"`
	At      time.Time `json:"at"`
	// Cursor is a store-wide position for following logs with "after".
	Cursor int64 `json:"cursor"`
}

// RunnerInfo identifies a runner and the labels jobs select it by.
type RunnerInfo struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	// Envs limits the environments whose jobs the runner may take (an
	// agent's join token's environments); empty means any.
	Envs []string `json:"envs,omitempty"`
}

// MayRun reports whether the runner may take jobs of environment env.
func (ri RunnerInfo) MayRun(env string) bool {
	return len(ri.Envs) == 0 || slices.Contains(ri.Envs, env)
}

// Matches reports whether a job asking for runsOn may run on this runner:
// every requested label must be present with the same value.
func (ri RunnerInfo) Matches(runsOn map[string]string) bool {
	for k, v := range runsOn {
		if ri.Labels[k] != v {
			return false
		}
	}
	return true
}

// HeartbeatReply tells a runner whether to keep going.
type HeartbeatReply struct {
	LeaseUntil time.Time `json:"lease_until"`
	// Cancel asks the runner to stop the attempt: the release was cancelled
	// or the attempt is no longer the current one.
	Cancel bool   `json:"cancel"`
	Reason string `json:"reason,omitempty"`
}

package shipgate

import (
	"fmt"
	"strconv"
	"time"
)

// A freeze stops releases from starting in an environment (or every
// environment) of a service (or every service) for a period: releases may
// still be created and approved, and wait queued with "frozen until …".
// Rollback releases are exempt: they restore a version known to be good.
// An emergency override lets one release through; it needs the approval
// of a member of the server's override group other than its requester.

// Audit actions of freezes.
const (
	ActionFreezeCreated           = "freeze.created"
	ActionFreezeEnded             = "freeze.ended"
	ActionFreezeOverrideRequested = "freeze.override_requested"
	ActionFreezeOverrideApproved  = "freeze.override_approved"
)

// Bounds of a freeze.
const (
	MaxFreezeReasonLen = 500
	MaxFreezeLength    = 90 * 24 * time.Hour
)

// Freeze is a period in which releases do not start. Empty Service or
// Environment means every one.
type Freeze struct {
	ID          int64      `json:"id"`
	Service     string     `json:"service,omitempty"`
	Environment string     `json:"environment,omitempty"`
	From        time.Time  `json:"from"`
	To          time.Time  `json:"to"`
	Reason      string     `json:"reason"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	EndedBy     string     `json:"ended_by,omitempty"`
}

// Validate checks a new freeze against now: a reason, a period that ends
// after it starts and in the future, and names that can exist.
func (f *Freeze) Validate(now time.Time) error {
	if f.Service != "" && !validName(f.Service) {
		return Errorf(EINVALID, "service name %q is not valid", f.Service)
	}
	if f.Environment != "" && !validName(f.Environment) {
		return Errorf(EINVALID, "environment name %q is not valid", f.Environment)
	}
	if err := ValidateLine("reason", f.Reason, MaxFreezeReasonLen); err != nil {
		return err
	}
	if f.Reason == "" {
		return Errorf(EINVALID, "a freeze needs a reason (--reason): it is what waiting releases show")
	}
	if f.From.IsZero() || f.To.IsZero() {
		return Errorf(EINVALID, "a freeze needs --from and --to")
	}
	if !f.To.After(f.From) {
		return Errorf(EINVALID, "the freeze ends (%s) before it starts (%s)", f.To.UTC().Format(time.RFC3339), f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.After(now) {
		return Errorf(EINVALID, "the freeze would end at %s, which has passed", f.To.UTC().Format(time.RFC3339))
	}
	if f.To.Sub(f.From) > MaxFreezeLength {
		return Errorf(EINVALID, "a freeze may last at most %d days", int(MaxFreezeLength.Hours()/24))
	}
	return nil
}

// Covers reports whether the freeze holds releases of service to env at t.
func (f *Freeze) Covers(service, env string, t time.Time) bool {
	if f.EndedAt != nil && !t.Before(*f.EndedAt) {
		return false
	}
	return (f.Service == "" || f.Service == service) && (f.Environment == "" || f.Environment == env) &&
		!t.Before(f.From) && t.Before(f.To)
}

// Scope describes what the freeze covers, for messages.
func (f *Freeze) Scope() string {
	s, e := f.Service, f.Environment
	switch {
	case s == "" && e == "":
		return "every environment"
	case s == "":
		return "environment " + e
	case e == "":
		return "every environment of " + s
	}
	return s + " in " + e
}

// ActiveFreeze returns the freeze among fs that holds releases of service
// to env at t and lasts longest, or nil.
func ActiveFreeze(fs []Freeze, service, env string, t time.Time) *Freeze {
	var best *Freeze
	for i := range fs {
		if fs[i].Covers(service, env, t) && (best == nil || fs[i].To.After(best.To)) {
			best = &fs[i]
		}
	}
	return best
}

// FrozenReason is what a release held by f says while it waits.
func FrozenReason(f *Freeze) string {
	return fmt.Sprintf("frozen until %s, %s (freeze %d; `shipgate freeze override` asks for an emergency exception)", f.To.UTC().Format(time.RFC3339), f.Reason, f.ID)
}

// FreezeOverride is an emergency exception for one release: requested
// with a reason, granted by a member of the override group who is not
// the requester. Granted, it lets the release start through any freeze.
type FreezeOverride struct {
	ReleaseID   int64      `json:"release_id"`
	Reason      string     `json:"reason"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	ApprovedBy  string     `json:"approved_by,omitempty"`
	ApprovedAt  *time.Time `json:"approved_at,omitempty"`
}

// Granted reports whether the override was approved.
func (o *FreezeOverride) Granted() bool { return o != nil && o.ApprovedAt != nil }

// FreezeSubject is the audit subject of events about a freeze.
func FreezeSubject(id int64) string { return "freeze/" + strconv.FormatInt(id, 10) }

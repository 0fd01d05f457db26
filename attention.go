package shipgate

import (
	"fmt"
	"slices"
	"time"
)

// NotifyPolicy is an environment's say in who is told about its releases
// and what happens when a release waits for a person nobody sends. It is
// frozen into each release with the rest of the environment's policy.
type NotifyPolicy struct {
	// Sinks, when set, are the server's notification sinks that hear of
	// this environment's releases, instead of every sink.
	Sinks []string `json:"sinks,omitempty"`
	// RenotifyAfter repeats a "person needed" notification (approval
	// needed, rollout paused for promote) when nobody acted for this long,
	// at most MaxRenotify times; 0 never repeats.
	RenotifyAfter Duration `json:"renotify_after,omitempty"`
	MaxRenotify   int      `json:"max_renotify,omitempty"`
	// EscalateAfter sends the waiting release to the EscalateTo sinks
	// (a PagerDuty sink opens an incident, resolved when someone acts) when
	// nobody acted for this long; 0 never escalates.
	EscalateAfter Duration `json:"escalate_after,omitempty"`
	EscalateTo    []string `json:"escalate_to,omitempty"`
}

// DefaultMaxRenotify bounds re-notifications when max_renotify is not set.
const DefaultMaxRenotify = 3

// maxRenotifyLimit bounds max_renotify: past a dozen reminders the
// reminders are noise, and escalation is the answer.
const maxRenotifyLimit = 20

// Timed reports whether the policy has timers: re-notification or
// escalation.
func (p *NotifyPolicy) Timed() bool {
	return p != nil && (p.RenotifyAfter > 0 || p.EscalateAfter > 0)
}

// Reminders is how many re-notifications the policy allows.
func (p *NotifyPolicy) Reminders() int {
	switch {
	case p == nil || p.RenotifyAfter == 0:
		return 0
	case p.MaxRenotify == 0:
		return DefaultMaxRenotify
	}
	return p.MaxRenotify
}

func (v *validator) notify(p string, n *NotifyPolicy) {
	if n == nil {
		return
	}
	dup := func(key string, names []string) {
		for i, s := range names {
			if err := ValidateName("sink", s); err != nil {
				v.add(fmt.Sprintf("%s.%s[%d]", p, key, i), "%s", ErrorMessage(err))
			} else if slices.Index(names, s) != i {
				v.add(fmt.Sprintf("%s.%s[%d]", p, key, i), "sink %q is named twice", s)
			}
		}
	}
	dup("sinks", n.Sinks)
	dup("escalate_to", n.EscalateTo)
	if n.RenotifyAfter < 0 {
		v.add(p+".renotify_after", "renotify_after must be positive")
	} else if n.RenotifyAfter > 0 && n.RenotifyAfter < Duration(time.Minute) {
		v.add(p+".renotify_after", "renotify_after %s is shorter than a minute; people would be told again before they could act", n.RenotifyAfter.Std())
	}
	if n.MaxRenotify < 0 || n.MaxRenotify > maxRenotifyLimit {
		v.add(p+".max_renotify", "max_renotify must be between 1 and %d, not %d", maxRenotifyLimit, n.MaxRenotify)
	} else if n.MaxRenotify > 0 && n.RenotifyAfter == 0 {
		v.add(p+".max_renotify", "max_renotify needs renotify_after")
	}
	switch {
	case n.EscalateAfter < 0:
		v.add(p+".escalate_after", "escalate_after must be positive")
	case n.EscalateAfter > 0 && n.EscalateAfter < Duration(time.Minute):
		v.add(p+".escalate_after", "escalate_after %s is shorter than a minute", n.EscalateAfter.Std())
	case n.EscalateAfter > 0 && len(n.EscalateTo) == 0:
		v.add(p+".escalate_after", "escalate_after needs escalate_to: the sinks to escalate to")
	case n.EscalateAfter == 0 && len(n.EscalateTo) > 0:
		v.add(p+".escalate_to", "escalate_to needs escalate_after: how long nobody may act before escalating")
	}
}

// CheckNotifySinks refuses a spec whose environments name notification
// sinks the server does not have. known are the server's sink names.
func CheckNotifySinks(s *ServiceSpec, known []string) error {
	var v validator
	for i, e := range s.Environments {
		if e.Notify == nil {
			continue
		}
		p := fmt.Sprintf("spec.environments[%d].notify", i)
		for key, names := range map[string][]string{"sinks": e.Notify.Sinks, "escalate_to": e.Notify.EscalateTo} {
			for j, n := range names {
				if slices.Contains(known, n) {
					continue
				}
				if len(known) == 0 {
					v.add(fmt.Sprintf("%s.%s[%d]", p, key, j), "sink %q is not configured: the server has no notification sinks (notifications.sinks in its config file)", n)
				} else {
					v.add(fmt.Sprintf("%s.%s[%d]", p, key, j), "sink %q is not configured on the server (it has %s)", n, quoteList(known))
				}
			}
		}
	}
	v.problems = sortProblems(v.problems)
	return v.err()
}

func sortProblems(ps []FieldError) []FieldError {
	slices.SortStableFunc(ps, func(a, b FieldError) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return ps
}

// Why a release waits for a person.
const (
	AttentionApproval = "approval" // pending_approval: someone must approve
	AttentionPromote  = "promote"  // a rollout paused for `shipgate promote`
)

// Audit actions of the re-notification and escalation timers. A release
// that waits for a person is told about again (reminded) and escalated
// with these; resolved ends an escalation (or reminders) once the wait is
// over, which resolves the escalation's PagerDuty incident.
const (
	ActionAttentionReminded  = "attention.reminded"
	ActionAttentionEscalated = "attention.escalated"
	ActionAttentionResolved  = "attention.resolved"
)

// Attention records one wait of a release for a person, from when the
// reconciler saw it begin (OpenedAt) to its end (ClosedAt), with the
// re-notifications and the escalation sent meanwhile. It is what makes
// the timers durable: a restarted server, or another one on the same
// database, continues from it instead of starting over.
type Attention struct {
	ReleaseID int64  `json:"release_id"`
	Reason    string `json:"reason"`
	// Key tells waits of one reason apart: for promote, which job, attempt
	// and pause ("deploy/1/2"); a new pause is a new wait.
	Key          string     `json:"key,omitempty"`
	OpenedAt     time.Time  `json:"opened_at"`
	Reminders    int        `json:"reminders"`
	LastNoticeAt *time.Time `json:"last_notice_at,omitempty"`
	EscalatedAt  *time.Time `json:"escalated_at,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
}

// Due says what the attention owes at now under policy p: a reminder, an
// escalation or nothing (""), and when to look again (zero: never).
// acted is when someone last acted on the release without ending the wait
// (an approval short of the number required), which restarts the clocks.
func (a *Attention) Due(p *NotifyPolicy, acted, now time.Time) (string, time.Time) {
	base := a.OpenedAt
	if acted.After(base) {
		base = acted
	}
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if p.EscalateAfter > 0 && a.EscalatedAt == nil {
		at := base.Add(p.EscalateAfter.Std())
		if !now.Before(at) {
			return ActionAttentionEscalated, time.Time{}
		}
		soonest(at)
	}
	if a.Reminders < p.Reminders() {
		last := base
		if a.LastNoticeAt != nil && a.LastNoticeAt.After(last) {
			last = *a.LastNoticeAt
		}
		at := last.Add(p.RenotifyAfter.Std())
		if !now.Before(at) {
			return ActionAttentionReminded, time.Time{}
		}
		soonest(at)
	}
	return "", next
}

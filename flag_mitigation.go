package shipgate

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Flags as a rollback action (issue 15). A release's frozen rollback
// policy may name mitigations ({flag, variant}); when the release fails
// the way its rollback policy watches for (its check target, or any job
// with no check target) or its canary analysis aborts the rollout, those
// flags flip at once, in the transaction that records the failure, before
// (or, with enabled: false, instead of) the redeploy. A release may also
// declare the flags it introduces (release create --flag).

// ActionReleaseMitigated records on a release's timeline what its
// mitigations did: the flags flipped, and those that could not be (data:
// run, reason, flags []FlagFlip). Each flip is also a flag.mitigated event
// on the flag, from the one writer of flag changes.
const ActionReleaseMitigated = "release.mitigated"

// MaxReleaseFlags bounds how many flags a release declares: enough for
// any release, few enough to read on its page and in its digest.
const MaxReleaseFlags = 32

// FlagFlip is what one mitigation did to its flag.
type FlagFlip struct {
	Flag string `json:"flag"`
	// Variant is the variant the flag serves (or was to serve).
	Variant string `json:"variant"`
	// Flipped says the flag changed; false with Note when it was already
	// serving Variant disabled, or no longer exists.
	Flipped bool `json:"flipped"`
	// Change is the flag change that flipped it.
	Change int64  `json:"change,omitempty"`
	Note   string `json:"note,omitempty"`
}

// ReleaseMitigation is the record of a release.mitigated event.
type ReleaseMitigation struct {
	Run    int        `json:"run"`
	Reason string     `json:"reason"`
	Flags  []FlagFlip `json:"flags"`
}

// MitigationTriggered reports whether the failure of failedJob flips the
// release's mitigations: the rule of RollbackTriggered (a named check
// target counts alone; otherwise any failed job does) whether or not the
// redeploy is enabled, since mitigations may stand instead of it. A
// rollback release mitigates nothing: its policy is the one it restores.
func (r *Release) MitigationTriggered(failedJob string) bool {
	p := r.Policy.Rollback
	if len(p.Mitigations) == 0 || r.Kind == ReleaseKindRollback {
		return false
	}
	return p.CheckTarget == "" || p.CheckTarget == CheckTargetPipeline || p.CheckTarget == failedJob
}

// DescribeFlips says what mitigations did, for notifications and the
// timeline: "new-checkout → off; beta not flipped (no longer exists)".
func DescribeFlips(fs []FlagFlip) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		if f.Flipped {
			parts[i] = f.Flag + " → " + f.Variant
		} else {
			parts[i] = fmt.Sprintf("%s not flipped (%s)", f.Flag, f.Note)
		}
	}
	return strings.Join(parts, "; ")
}

// ValidateReleaseFlags checks the flags a release declares against the
// live flags of its service in its environment (known): each must be one
// of them, at most MaxReleaseFlags, no duplicates.
func ValidateReleaseFlags(flags []string, known []string, service, env string) error {
	if len(flags) > MaxReleaseFlags {
		return Errorf(EINVALID, "a release declares at most %d flags, not %d", MaxReleaseFlags, len(flags))
	}
	have := map[string]bool{}
	for _, k := range known {
		have[k] = true
	}
	seen := map[string]bool{}
	for _, f := range flags {
		if seen[f] {
			return Errorf(EINVALID, "flag %q is declared twice", f)
		}
		seen[f] = true
		if !have[f] {
			if len(known) == 0 {
				return Errorf(EINVALID, "service %s has no flag %q in environment %s: it has no flags there", service, clipFlagName(f), env)
			}
			return Errorf(EINVALID, "service %s has no flag %q in environment %s (it has %s)", service, clipFlagName(f), env, strings.Join(known, ", "))
		}
	}
	return nil
}

// clipFlagName shortens an unknown name for an error message (80 bytes,
// never half a character).
func clipFlagName(s string) string {
	if len(s) <= 80 {
		return s
	}
	cut := 80
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

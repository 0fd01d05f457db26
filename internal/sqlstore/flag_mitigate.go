package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
)

// MitigateRelease flips the mitigations of r's frozen rollback policy, in
// tx, saying why (a sentence: "its canary analysis failed: …"): each flag
// named goes disabled serving the mitigation's variant (the flag's safe
// variant when none is named), through the one writer of flag changes,
// with no approval (an incident does not wait). A flag already serving
// that variant disabled is left as it is, and one that no longer exists,
// or has no such variant, is recorded as not flipped: a mitigation never
// fails the failure it answers. A flag flipped or recorded for r's current
// run already is skipped, so the abort of a canary and the failure of its
// job flip once. What was done is recorded on r's timeline by one
// release.mitigated event, returned too (nil when there was nothing left
// to do).
func (tx *Tx) MitigateRelease(ctx context.Context, r *shipgate.Release, why string) ([]shipgate.FlagFlip, error) {
	ms := r.Policy.Rollback.Mitigations
	if len(ms) == 0 || r.Kind == shipgate.ReleaseKindRollback {
		return nil, nil
	}
	done, err := tx.ReleaseFlips(ctx, r)
	if err != nil {
		return nil, err
	}
	handled := map[string]bool{}
	for _, f := range done {
		handled[f.Flag] = true
	}
	reason := fmt.Sprintf("release %d of %s %s failed: %s", r.ID, r.Service, r.Version, why)
	if len(reason) > shipgate.MaxFlagReasonLen {
		cut := shipgate.MaxFlagReasonLen - len("…")
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut-- // never half a character
		}
		reason = reason[:cut] + "…"
	}
	var flips []shipgate.FlagFlip
	for _, m := range ms {
		if handled[m.Flag] {
			continue
		}
		handled[m.Flag] = true
		flip, err := tx.mitigateFlag(ctx, r, m, reason)
		if err != nil {
			return nil, err
		}
		flips = append(flips, flip)
	}
	if len(flips) == 0 {
		return nil, nil
	}
	rec := shipgate.ReleaseMitigation{Run: r.Run, Reason: why, Flags: flips}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	var data map[string]any
	if err := json.Unmarshal(b, &data); err != nil {
		return nil, err
	}
	data["summary"] = shipgate.DescribeFlips(flips)
	return flips, tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionReleaseMitigated, shipgate.ReleaseSubject(r.ID), data))
}

// mitigateFlag flips one flag for MitigateRelease.
func (tx *Tx) mitigateFlag(ctx context.Context, r *shipgate.Release, m shipgate.FlagMitigation, reason string) (shipgate.FlagFlip, error) {
	flip := shipgate.FlagFlip{Flag: m.Flag, Variant: m.Variant}
	st, err := tx.FindFlag(ctx, r.Service, r.Environment, m.Flag)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		flip.Note = "the flag no longer exists in " + r.Environment
		return flip, nil
	} else if err != nil {
		return flip, err
	}
	if flip.Variant == "" {
		flip.Variant = st.Flag.SafeVariant
	}
	if _, ok := st.Flag.Variants[flip.Variant]; !ok {
		flip.Note = fmt.Sprintf("the flag has no variant %q any more", flip.Variant)
		return flip, nil
	}
	if st.Flag.Disabled && st.Flag.Served() == flip.Variant {
		flip.Note = "it already served " + flip.Variant + " to everyone"
		return flip, nil
	}
	before := st.Flag
	after := st.Flag // Variants, Rules and Rollout are shared, not changed
	after.Disabled, after.Serve = true, flip.Variant
	if after.Serve == after.SafeVariant {
		after.Serve = "" // the safe variant is what a disabled flag serves anyway
	}
	c := &shipgate.FlagChange{Service: r.Service, Environment: r.Environment, Key: m.Flag, Op: shipgate.FlagOpMitigation,
		Reason: reason, Before: &before, After: &after, BaseVersion: st.Version, ReleaseID: r.ID, RequestedBy: shipgate.SystemActor}
	if err := tx.applyFlagChange(ctx, c, ""); err != nil {
		if code := shipgate.ErrorCode(err); code == shipgate.EINVALID || code == shipgate.ECONFLICT {
			flip.Note = shipgate.ErrorMessage(err)
			return flip, nil
		}
		return flip, err
	}
	flip.Flipped, flip.Change = true, c.ID
	return flip, nil
}

// ReleaseFlips returns what the mitigations of r's current run did, from
// its release.mitigated events, in order (nil when they did nothing yet).
func (tx *Tx) ReleaseFlips(ctx context.Context, r *shipgate.Release) ([]shipgate.FlagFlip, error) {
	if len(r.Policy.Rollback.Mitigations) == 0 {
		return nil, nil // no read for the releases that cannot have any
	}
	evs, err := tx.ListAudit(ctx, shipgate.AuditFilter{Subject: shipgate.ReleaseSubject(r.ID), ActionPrefix: shipgate.ActionReleaseMitigated})
	if err != nil {
		return nil, err
	}
	var out []shipgate.FlagFlip
	for _, e := range evs {
		var rec shipgate.ReleaseMitigation
		if err := json.Unmarshal(e.Details, &rec); err != nil {
			return nil, fmt.Errorf("audit event %d: %w", e.Seq, err)
		}
		if rec.Run == r.Run {
			out = append(out, rec.Flags...)
		}
	}
	return out, nil
}

// CheckReleaseFlags checks the flags a new release of service to env
// declares: live flags of the service in the environment, at most
// shipgate.MaxReleaseFlags, no duplicates. PrepareRelease checks again.
func (tx *Tx) CheckReleaseFlags(ctx context.Context, service, env string, flags []string) error {
	if len(flags) == 0 {
		return nil
	}
	if len(flags) > shipgate.MaxReleaseFlags {
		return shipgate.ValidateReleaseFlags(flags, nil, service, env)
	}
	live, err := tx.ListFlags(ctx, service, env)
	if err != nil {
		return err
	}
	known := make([]string, len(live))
	for i, f := range live {
		known[i] = f.Flag.Key
	}
	return shipgate.ValidateReleaseFlags(flags, known, service, env)
}

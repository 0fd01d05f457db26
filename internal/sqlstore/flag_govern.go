package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// Governed flag changes: a person's change applies at once, or, where the
// environment's flag_approvals (in the service's current spec) require
// approvals, is recorded as pending and applies when the last approval
// arrives — unless the flag changed meanwhile (superseded) or the change
// outlived the policy's expires_after (expired). The kill switch never
// waits. Every change goes through applyFlagChange, which audits it.
//
// Expiry is checked when a pending change is acted on (approve, reject)
// and by ExpireFlagChanges, which the reconciler's tick runs; a read shows
// a change as pending until one of them has recorded it expired.

// MaxPendingFlagChanges bounds the changes of one flag that wait for
// approval at once.
const MaxPendingFlagChanges = 20

// FlagChangeRequest asks for a change of one flag by a person.
type FlagChangeRequest struct {
	Actor, Service, Environment, Key string
	Op                               shipgate.FlagChangeOp // set, enable, disable or rollout
	Reason                           string
	// Mutate makes the change on a copy of the live definition (for set
	// of a new flag, a Flag holding only Key). Nil for enable and
	// disable, whose change is fixed.
	Mutate func(*shipgate.Flag) error
}

// flagEnv returns the service's current spec's environment env, with a
// message naming the environments there are when it has no such one.
func (tx *Tx) flagEnv(ctx context.Context, service, env string) (*shipgate.Service, *shipgate.Environment, error) {
	svc, err := tx.FindService(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	e, ok := svc.Spec.Environment(env)
	if !ok {
		return nil, nil, shipgate.Errorf(shipgate.ENOTFOUND, "service %s has no environment %q; its environments are %s", service, env, strings.Join(svc.Spec.EnvironmentNames(), ", "))
	}
	return svc, e, nil
}

// ChangeFlag makes a person's change of a flag: set (which may create a
// flag), enable, disable or rollout. It refuses a change that leaves the
// flag as it is. It returns the change, applied or pending.
func (tx *Tx) ChangeFlag(ctx context.Context, req FlagChangeRequest) (*shipgate.FlagChange, error) {
	if err := shipgate.CheckFlagReason(req.Reason); err != nil {
		return nil, err
	}
	switch req.Op {
	case shipgate.FlagOpSet, shipgate.FlagOpRollout:
		if req.Mutate == nil {
			return nil, shipgate.Errorf(shipgate.EINVALID, "a %s change needs the new definition", req.Op)
		}
	case shipgate.FlagOpEnable, shipgate.FlagOpDisable:
	case shipgate.FlagOpKill:
		return nil, shipgate.Errorf(shipgate.EINVALID, "kill is its own command: it never waits for approval")
	default:
		return nil, shipgate.Errorf(shipgate.EINVALID, "flag change op %q is not known: use set, enable, disable or rollout", req.Op)
	}
	_, env, err := tx.flagEnv(ctx, req.Service, req.Environment)
	if err != nil {
		return nil, err
	}
	c := &shipgate.FlagChange{Service: req.Service, Environment: req.Environment, Key: req.Key, Op: req.Op,
		Reason: req.Reason, RequestedBy: req.Actor}
	after := &shipgate.Flag{Key: req.Key}
	live, err := tx.FindFlag(ctx, req.Service, req.Environment, req.Key)
	switch {
	case err == nil:
		before := live.Flag
		c.Before, c.BaseVersion = &before, live.Version
		if after, err = shipgate.CloneFlag(&before); err != nil {
			return nil, err
		}
	case shipgate.ErrorCode(err) == shipgate.ENOTFOUND && req.Op == shipgate.FlagOpSet:
	default:
		return nil, err
	}
	switch req.Op {
	case shipgate.FlagOpEnable:
		if !after.Disabled {
			return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "flag %q of %s in %s is enabled already: nothing to enable", req.Key, req.Service, req.Environment)
		}
		after.Disabled, after.Serve = false, ""
	case shipgate.FlagOpDisable:
		if after.Disabled && after.Serve == "" {
			return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "flag %q of %s in %s is disabled already: it serves %s to everyone", req.Key, req.Service, req.Environment, after.SafeVariant)
		}
		after.Disabled, after.Serve = true, ""
	default:
		if err := req.Mutate(after); err != nil {
			return nil, err
		}
		if after.Key != req.Key {
			return nil, shipgate.Errorf(shipgate.EINVALID, "the definition is of flag %q, not %q", after.Key, req.Key)
		}
		// A new definition of a disabled (killed) flag keeps it disabled,
		// as a service file does: only enable turns it back on.
		if b := c.Before; b != nil && b.Disabled && !after.Disabled {
			after.Disabled, after.Serve = true, ""
			if _, ok := after.Variants[b.Serve]; ok {
				after.Serve = b.Serve
			}
		}
	}
	if problems := after.Validate("flag"); len(problems) > 0 {
		return nil, &shipgate.ValidationError{Problems: problems}
	}
	if c.Before != nil && flagDigest(c.Before) == flagDigest(after) {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the %s change leaves flag %q of %s in %s as it is: nothing to change", req.Op, req.Key, req.Service, req.Environment)
	}
	c.After = after
	if p := env.FlagApprovals; p != nil && p.Required > 0 {
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM flag_changes WHERE service = ? AND environment = ? AND key = ? AND state = ?`,
			req.Service, req.Environment, req.Key, string(shipgate.FlagChangePending)).Scan(&n); err != nil {
			return nil, err
		}
		if n >= MaxPendingFlagChanges {
			return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "flag %q of %s in %s has %d changes waiting for approval already; have them decided (shipgate flag changes --pending) before asking for more", req.Key, req.Service, req.Environment, n)
		}
		return c, tx.requestFlagChange(ctx, c, p)
	}
	return c, tx.applyFlagChange(ctx, c, "")
}

// requestFlagChange records c as pending and audits the request.
func (tx *Tx) requestFlagChange(ctx context.Context, c *shipgate.FlagChange, p *shipgate.ApprovalPolicy) error {
	before, err := flagJSON(c.Before)
	if err != nil {
		return err
	}
	after, err := flagJSON(c.After)
	if err != nil {
		return err
	}
	c.State, c.RequestedAt = shipgate.FlagChangePending, tx.now
	if err := tx.queryRow(ctx, `INSERT INTO flag_changes (service, environment, key, op, state, reason, before_def, after_def, base_version, release_id, requested_by, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Service, c.Environment, c.Key, string(c.Op), string(c.State), c.Reason, before, after, c.BaseVersion, c.ReleaseID, c.RequestedBy, micros(tx.now)).Scan(&c.ID); err != nil {
		return err
	}
	if err := tx.fillAwaiting(ctx, c, p); err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(c.RequestedBy, shipgate.ActionFlagChangeRequested, shipgate.FlagChangeSubject(c.ID), map[string]any{
		"service": c.Service, "environment": c.Environment, "key": c.Key, "op": string(c.Op), "reason": c.Reason,
		"change": c.ID, "before": c.Before, "after": c.After, "required": p.Required, "awaiting": c.Awaiting,
	}))
}

// flagApprovers returns the users who may approve pending change c under
// p now: enabled, with the approver role, never its requester, and — when
// p names from_groups — members of one of them now and already when the
// change was asked for (as for releases, joining a group later never lets
// anyone decide a change that already exists).
func (tx *Tx) flagApprovers(ctx context.Context, c *shipgate.FlagChange, p *shipgate.ApprovalPolicy) (map[string]bool, error) {
	users, err := tx.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	var pol shipgate.ApprovalPolicy
	if p != nil {
		pol = *p
	}
	pol.AllowSelfApproval = false
	var frozen map[string][]string
	if len(pol.FromGroups) > 0 {
		at := c.RequestedAt
		if frozen, err = tx.groupMembers(ctx, pol.FromGroups, &at, true); err != nil {
			return nil, err
		}
	}
	out := map[string]bool{}
	for _, name := range shipgate.EligibleApprovers(pol, users, c.RequestedBy) {
		ok := len(pol.FromGroups) == 0
		for _, g := range pol.FromGroups {
			ok = ok || slices.Contains(frozen[g], name)
		}
		if ok {
			out[name] = true
		}
	}
	return out, nil
}

// countedApprovals is how many of c's approvals still count: those whose
// givers may still approve it (a giver disabled, out of the group or
// without the approver role since no longer counts).
func countedApprovals(c *shipgate.FlagChange, approvers map[string]bool) int {
	n := 0
	for _, a := range c.Approvals {
		if approvers[a.Approver] {
			n++
		}
	}
	return n
}

// fillAwaiting sets c.Awaiting for a pending change under p.
func (tx *Tx) fillAwaiting(ctx context.Context, c *shipgate.FlagChange, p *shipgate.ApprovalPolicy) error {
	approvers, err := tx.flagApprovers(ctx, c, p)
	if err != nil {
		return err
	}
	var eligible []string
	for name := range approvers {
		if !slices.ContainsFunc(c.Approvals, func(a shipgate.FlagChangeApproval) bool { return a.Approver == name }) {
			eligible = append(eligible, name)
		}
	}
	slices.Sort(eligible)
	c.Awaiting = shipgate.FlagAwaiting(p, eligible, countedApprovals(c, approvers), c.RequestedBy)
	return nil
}

// FillAwaiting sets Awaiting on each pending change of cs, from the
// current flag_approvals of its environment.
func (tx *Tx) FillAwaiting(ctx context.Context, cs []shipgate.FlagChange) error {
	type policy struct {
		p  *shipgate.ApprovalPolicy
		ok bool
	}
	policies := map[[2]string]policy{} // one read of a service's spec per environment
	for i := range cs {
		c := &cs[i]
		if c.State != shipgate.FlagChangePending {
			continue
		}
		k := [2]string{c.Service, c.Environment}
		pol, seen := policies[k]
		if !seen {
			if _, env, err := tx.flagEnv(ctx, c.Service, c.Environment); err == nil {
				pol = policy{env.FlagApprovals, true}
			}
			policies[k] = pol
		}
		if !pol.ok {
			continue // the service or environment is gone; nobody can approve it
		}
		if err := tx.fillAwaiting(ctx, c, pol.p); err != nil {
			return err
		}
	}
	return nil
}

// pendingFlagChange returns change id and its environment's current flag
// approval policy, refusing one that is no longer pending. A pending
// change past its expiry is recorded expired and returned as such.
func (tx *Tx) pendingFlagChange(ctx context.Context, id int64, decision string) (*shipgate.FlagChange, *shipgate.ApprovalPolicy, error) {
	c, err := tx.FindFlagChange(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if c.State != shipgate.FlagChangePending {
		verb := map[string]string{shipgate.DecisionApprove: "approved", shipgate.DecisionReject: "rejected"}[decision]
		return nil, nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "flag change %d is %s; only pending changes can be %s", id, c.State, verb)
	}
	var p *shipgate.ApprovalPolicy
	if _, env, err := tx.flagEnv(ctx, c.Service, c.Environment); err == nil {
		p = env.FlagApprovals
	}
	if shipgate.FlagChangeTimedOut(p, c.RequestedAt, tx.now) {
		return c, p, tx.dropFlagChange(ctx, c, shipgate.FlagChangeExpired, "system", fmt.Sprintf("it was not approved within %s", time.Duration(p.ExpiresAfter)))
	}
	return c, p, nil
}

// dropFlagChange records a pending change as superseded or expired.
func (tx *Tx) dropFlagChange(ctx context.Context, c *shipgate.FlagChange, state shipgate.FlagChangeState, actor, why string) error {
	c.State, c.DecidedBy = state, actor
	now := tx.now
	c.DecidedAt = &now
	if _, err := tx.exec(ctx, `UPDATE flag_changes SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = ?`,
		string(state), actor, micros(now), c.ID, string(shipgate.FlagChangePending)); err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionFlagChangeDropped, shipgate.FlagChangeSubject(c.ID), map[string]any{
		"service": c.Service, "environment": c.Environment, "key": c.Key, "op": string(c.Op), "change": c.ID,
		"state": string(state), "why": why, "requested_by": c.RequestedBy,
	}))
}

// ApproveFlagChange records u's approval of pending change id and, when
// it has the approvals its environment requires now, applies it — or, if
// the flag changed since the change was asked for, records it superseded.
// An expired or superseded change comes back without an error (the record
// must commit); its DroppedError says what happened.
func (tx *Tx) ApproveFlagChange(ctx context.Context, id int64, u *shipgate.User, comment string) (*shipgate.FlagChange, error) {
	if err := shipgate.ValidateLine("the comment", comment, shipgate.MaxCommentLen); err != nil {
		return nil, err
	}
	c, p, err := tx.pendingFlagChange(ctx, id, shipgate.DecisionApprove)
	if err != nil || c.State != shipgate.FlagChangePending {
		return c, err
	}
	// No policy to approve under is no policy at all: a change of an
	// environment the service file has dropped can only be rejected.
	if _, _, err := tx.flagEnv(ctx, c.Service, c.Environment); err != nil {
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "flag change %d cannot be approved: %s; reject it (shipgate flag reject %d)", id, shipgate.ErrorMessage(err), id)
		}
		return nil, err
	}
	if err := shipgate.CheckFlagApprover(c, p, u, shipgate.DecisionApprove); err != nil {
		return nil, err
	}
	for _, a := range c.Approvals {
		if a.Approver == u.Name {
			return nil, shipgate.Errorf(shipgate.ECONFLICT, "user %q has approved flag change %d already; it needs another approver", u.Name, id)
		}
	}
	approvers, err := tx.flagApprovers(ctx, c, p)
	if err != nil {
		return nil, err
	}
	if !approvers[u.Name] {
		return nil, shipgate.Errorf(shipgate.EFORBIDDEN, "only those who were members of %s when flag change %d was asked for may approve it; user %q joined later", strings.Join(p.FromGroups, " or "), id, u.Name)
	}
	if _, err := tx.exec(ctx, `INSERT INTO flag_change_approvals (change_id, approver, comment, at) VALUES (?, ?, ?, ?)`, id, u.Name, comment, micros(tx.now)); err != nil {
		return nil, err
	}
	c.Approvals = append(c.Approvals, shipgate.FlagChangeApproval{Approver: u.Name, Comment: comment, At: tx.now})
	required := 0
	if p != nil {
		required = p.Required
	}
	if err := tx.Audit(ctx, shipgate.NewAuditEvent(u.Name, shipgate.ActionFlagChangeApproved, shipgate.FlagChangeSubject(id), map[string]any{
		"service": c.Service, "environment": c.Environment, "key": c.Key, "op": string(c.Op), "change": id,
		"comment": comment, "approvals": countedApprovals(c, approvers), "required": required, "requested_by": c.RequestedBy,
	})); err != nil {
		return nil, err
	}
	if countedApprovals(c, approvers) < required {
		return c, tx.fillAwaiting(ctx, c, p)
	}
	live, err := tx.FindFlag(ctx, c.Service, c.Environment, c.Key)
	moved := false
	switch {
	case err == nil:
		// The definition too: a flag a file removed and declared again
		// starts at version 1 anew, so the version alone may match.
		moved = c.Before == nil || live.Version != c.BaseVersion || flagDigest(&live.Flag) != flagDigest(c.Before)
	case shipgate.ErrorCode(err) == shipgate.ENOTFOUND:
		moved = c.Before != nil
	default:
		return nil, err
	}
	if !moved {
		// Any change applied since, though it left no trace in the live
		// flag (declared, killed, removed again), supersedes it too.
		var later int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM flag_changes WHERE service = ? AND environment = ? AND key = ? AND state = ? AND id > ?`,
			c.Service, c.Environment, c.Key, string(shipgate.FlagChangeApplied), c.ID).Scan(&later); err != nil {
			return nil, err
		}
		moved = later > 0
	}
	if moved {
		return c, tx.dropFlagChange(ctx, c, shipgate.FlagChangeSuperseded, u.Name, "the flag changed after the change was asked for")
	}
	c.DecidedBy = u.Name
	return c, tx.applyFlagChange(ctx, c, "")
}

// RejectFlagChange rejects pending change id: an eligible approver, or
// its requester withdrawing it. The comment says why and is required.
func (tx *Tx) RejectFlagChange(ctx context.Context, id int64, u *shipgate.User, comment string) (*shipgate.FlagChange, error) {
	if comment == "" {
		return nil, shipgate.Errorf(shipgate.EINVALID, "a comment is required: say why the change is rejected (--comment)")
	}
	if err := shipgate.ValidateLine("the comment", comment, shipgate.MaxCommentLen); err != nil {
		return nil, err
	}
	c, p, err := tx.pendingFlagChange(ctx, id, shipgate.DecisionReject)
	if err != nil || c.State != shipgate.FlagChangePending {
		return c, err
	}
	if err := shipgate.CheckFlagApprover(c, p, u, shipgate.DecisionReject); err != nil {
		return nil, err
	}
	c.State, c.DecidedBy = shipgate.FlagChangeRejected, u.Name
	now := tx.now
	c.DecidedAt = &now
	if _, err := tx.exec(ctx, `UPDATE flag_changes SET state = ?, decided_by = ?, decided_at = ? WHERE id = ?`,
		string(c.State), u.Name, micros(now), id); err != nil {
		return nil, err
	}
	return c, tx.Audit(ctx, shipgate.NewAuditEvent(u.Name, shipgate.ActionFlagChangeRejected, shipgate.FlagChangeSubject(id), map[string]any{
		"service": c.Service, "environment": c.Environment, "key": c.Key, "op": string(c.Op), "change": id,
		"comment": comment, "requested_by": c.RequestedBy,
	}))
}

// dueFlagChanges lists the pending changes past their environment's
// expires_after, with why.
func (tx *Tx) dueFlagChanges(ctx context.Context) ([]shipgate.FlagChange, []string, error) {
	pending, err := tx.ListFlagChanges(ctx, FlagChangeFilter{State: shipgate.FlagChangePending, Limit: 1000})
	if err != nil {
		return nil, nil, err
	}
	var due []shipgate.FlagChange
	var why []string
	for _, c := range pending {
		_, env, err := tx.flagEnv(ctx, c.Service, c.Environment)
		if err != nil || !shipgate.FlagChangeTimedOut(env.FlagApprovals, c.RequestedAt, tx.now) {
			continue
		}
		due = append(due, c)
		why = append(why, fmt.Sprintf("it was not approved within %s", time.Duration(env.FlagApprovals.ExpiresAfter)))
	}
	return due, why, nil
}

// FlagChangesDue reports whether ExpireFlagChanges has anything to do, so
// the reconciler's tick takes the write lock only then.
func (tx *Tx) FlagChangesDue(ctx context.Context) (bool, error) {
	due, _, err := tx.dueFlagChanges(ctx)
	return len(due) > 0, err
}

// ExpireFlagChanges records every pending change past its environment's
// expires_after as expired; the reconciler's tick runs it. It returns how
// many it expired.
func (tx *Tx) ExpireFlagChanges(ctx context.Context) (int, error) {
	due, why, err := tx.dueFlagChanges(ctx)
	if err != nil {
		return 0, err
	}
	for i := range due {
		if err := tx.dropFlagChange(ctx, &due[i], shipgate.FlagChangeExpired, "system", why[i]); err != nil {
			return i, err
		}
	}
	return len(due), nil
}

// KillFlag turns a flag to its safe variant for every caller at once: no
// approval, a reason required, audited as flag.killed (incident grade).
// A flag that serves its safe variant to everyone already is refused with
// a message saying so, and nothing changes.
func (tx *Tx) KillFlag(ctx context.Context, actor, service, env, key, reason string) (*shipgate.FlagChange, error) {
	if err := shipgate.CheckFlagReason(reason); err != nil {
		return nil, err
	}
	// Any live flag can be killed: one people created in an environment
	// the service file has dropped since is still served.
	live, err := tx.FindFlag(ctx, service, env, key)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		if _, _, envErr := tx.flagEnv(ctx, service, env); envErr != nil {
			return nil, envErr
		}
	}
	if err != nil {
		return nil, err
	}
	if killedAlready(&live.Flag) {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "flag %q of %s in %s is killed already: it serves %s to everyone (since %s, by %s); nothing changed",
			key, service, env, live.Flag.SafeVariant, live.UpdatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), live.UpdatedBy)
	}
	return tx.killFlag(ctx, actor, live, reason, 0)
}

func killedAlready(f *shipgate.Flag) bool { return f.Disabled && f.Served() == f.SafeVariant }

func (tx *Tx) killFlag(ctx context.Context, actor string, live *shipgate.FlagState, reason string, releaseID int64) (*shipgate.FlagChange, error) {
	before := live.Flag
	after, err := shipgate.CloneFlag(&before)
	if err != nil {
		return nil, err
	}
	after.Disabled, after.Serve = true, ""
	c := &shipgate.FlagChange{Service: live.Service, Environment: live.Environment, Key: live.Flag.Key, Op: shipgate.FlagOpKill,
		Reason: reason, RequestedBy: actor, Before: &before, After: after, BaseVersion: live.Version, ReleaseID: releaseID}
	return c, tx.applyFlagChange(ctx, c, "")
}

// KillReleaseFlags kills, in one transaction, every flag release id
// declares it introduces (ReleaseContent.Flags) in its environment: "turn
// off everything this release turned on". Flags gone from the environment
// or killed already are left as they are; when that leaves nothing to
// kill, it is refused. The kill is also put on the release's timeline.
func (tx *Tx) KillReleaseFlags(ctx context.Context, actor string, id int64, reason string) ([]shipgate.FlagChange, error) {
	if err := shipgate.CheckFlagReason(reason); err != nil {
		return nil, err
	}
	rel, err := tx.FindRelease(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(rel.Flags) == 0 {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d declares no flags, so there is nothing to kill; name flags with `shipgate flag kill SERVICE FLAG --env %s`", id, rel.Environment)
	}
	out := []shipgate.FlagChange{}
	var skipped, keys []string
	for _, key := range rel.Flags {
		live, err := tx.FindFlag(ctx, rel.Service, rel.Environment, key)
		switch {
		case shipgate.ErrorCode(err) == shipgate.ENOTFOUND:
			skipped = append(skipped, key+" (no longer a flag of "+rel.Environment+")")
			continue
		case err != nil:
			return nil, err
		case killedAlready(&live.Flag):
			skipped = append(skipped, key+" (killed already)")
			continue
		}
		c, err := tx.killFlag(ctx, actor, live, reason, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
		keys = append(keys, key)
	}
	if len(out) == 0 {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d's flags need no kill: %s; nothing changed", id, strings.Join(skipped, ", "))
	}
	return out, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionReleaseFlagsKilled, shipgate.ReleaseSubject(id), map[string]any{
		"service": rel.Service, "environment": rel.Environment, "flags": keys, "skipped": skipped, "reason": reason, "severity": "incident",
	}))
}

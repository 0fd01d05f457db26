package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/decide"
	"github.com/shipgate/shipgate/internal/policy"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Policy gates at the four points (docs/governance.md). A gate that
// allows is recorded in the caller's transaction; one that blocks returns
// a *shipgate.PolicyDeniedError, and the store records its decision once
// the refused transaction has rolled back (sqlstore.DB.Update). The start
// gate is different: it holds the release in queued (see Release).

// gated reports whether r is judged by policies at all. Rollback
// releases are not: they restore a version that passed its gates here,
// and a gate must not stand between a broken release and its way back.
func gated(r *shipgate.Release) bool {
	return len(r.Policy.Policies) > 0 && r.Kind != shipgate.ReleaseKindRollback
}

// judge evaluates the policies r's environment names at point, in actor's
// name, and returns the decision (not yet recorded) with its bundle's
// canonical JSON; nil when r is not gated.
func judge(ctx context.Context, tx *sqlstore.Tx, point string, r *shipgate.Release, actor string, promote map[string]any) (*shipgate.PolicyDecision, []byte, error) {
	if !gated(r) {
		return nil, nil, nil
	}
	b, err := tx.PolicyBundle(ctx, r.Policy.Policies)
	if err != nil {
		return nil, nil, err
	}
	f, err := facts(ctx, tx, point, r, actor, tx.Now())
	if err != nil {
		return nil, nil, err
	}
	f.Promote = promote
	return policy.DecideBundle(ctx, b, f)
}

// facts gathers what a gate sees about r at point.
func facts(ctx context.Context, tx *sqlstore.Tx, point string, r *shipgate.Release, actor string, at time.Time) (policy.Facts, error) {
	f := policy.Facts{Point: point, Release: r, Actor: actor, Time: at}
	if r.ID != 0 {
		ev, err := tx.ListEvidence(ctx, r.ID)
		if err != nil {
			return f, err
		}
		f.Evidence = shipgate.EvidenceInput(ev)
		if f.Approvals, err = tx.ListApprovals(ctx, r.ID); err != nil {
			return f, err
		}
	}
	cur, err := tx.CurrentRelease(ctx, r.Service, r.Environment)
	switch {
	case shipgate.ErrorCode(err) == shipgate.ENOTFOUND, shipgate.ErrorCode(err) == shipgate.EFAILEDPRECONDITION:
		// none has finished there yet: current_release is null
	case err != nil:
		return f, err
	case cur.ID != r.ID:
		f.Current = cur
	}
	return f, nil
}

// DryRun judges release r at point as of at, in actor's name, and records
// nothing: the bundle is the current revisions of the policies its
// environment names, with proposed modules replacing those of the same
// name and added to the rest (a proposed policy judges every release).
// A named policy that does not exist gives an error result, as it would
// block for real. Rollback releases are judged too: a dry run shows.
func DryRun(ctx context.Context, tx *sqlstore.Tx, point string, r *shipgate.Release, actor string, proposed []shipgate.PolicyModule, at time.Time) (*shipgate.PolicyDecision, error) {
	byName := map[string]shipgate.PolicyModule{}
	for _, m := range proposed {
		byName[m.Name] = m
	}
	var missing []string
	for _, n := range r.Policy.Policies {
		if _, ok := byName[n]; ok {
			continue
		}
		p, err := tx.FindPolicy(ctx, n, 0)
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			missing = append(missing, n)
			continue
		} else if err != nil {
			return nil, err
		}
		byName[n] = shipgate.PolicyModule{Name: p.Name, Revision: p.Revision, Filename: p.Filename, Source: p.Source}
	}
	b := shipgate.PolicyBundle{Modules: []shipgate.PolicyModule{}}
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		b.Modules = append(b.Modules, byName[n])
	}
	f, err := facts(ctx, tx, point, r, actor, at)
	if err != nil {
		return nil, err
	}
	d, _, err := policy.DecideBundle(ctx, b, f)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 && d.Result != shipgate.PolicyError {
		d.Result, d.Error = shipgate.PolicyError, fmt.Sprintf("policies %s named by the environment do not exist (fail closed)", strings.Join(missing, ", "))
	}
	return d, nil
}

// gate judges r at point and records an allowing decision; a blocking
// one is returned as the error that refuses the command.
func gate(ctx context.Context, tx *sqlstore.Tx, point string, r *shipgate.Release, actor string, promote map[string]any) (*shipgate.PolicyDecision, error) {
	d, bundle, err := judge(ctx, tx, point, r, actor, promote)
	if err != nil || d == nil {
		return nil, err
	}
	if d.Blocks() {
		return nil, &shipgate.PolicyDeniedError{Decision: d, Bundle: bundle}
	}
	return d, tx.RecordPolicyDecision(ctx, d, bundle)
}

// startGate judges a queued release the tick is about to start. It
// returns the reason to hold it in queued, or "" to start it. A decision
// is recorded when it differs from the last one at start (bundle or
// result): a release held for an hour is one decision, not 720.
func startGate(ctx context.Context, tx *sqlstore.Tx, r *shipgate.Release) (string, error) {
	d, bundle, err := judge(ctx, tx, shipgate.PolicyPointStart, r, shipgate.SystemActor, nil)
	if err != nil {
		if shipgate.ErrorCode(err) == shipgate.EFAILEDPRECONDITION {
			return "held by policy: " + shipgate.ErrorMessage(err), nil
		}
		return "", err
	}
	if d == nil {
		return "", nil
	}
	last, err := tx.LastPolicyDecision(ctx, r.ID, shipgate.PolicyPointStart)
	if err != nil {
		return "", err
	}
	if last == nil || last.BundleDigest != d.BundleDigest || last.ResultDigest != d.ResultDigest {
		if err := tx.RecordPolicyDecision(ctx, d, bundle); err != nil {
			return "", err
		}
	} else {
		d.ID = last.ID
	}
	if !d.Blocks() {
		return "", nil
	}
	return heldReason(d), nil
}

func heldReason(d *shipgate.PolicyDecision) string {
	return "held in queued by policy (decision " + strconv.FormatInt(d.ID, 10) + ", re-evaluated as things change): " + d.Reason()
}

// starts reports whether plan starts release id (queued → running).
func starts(plan *decide.Plan, id int64) bool {
	for _, s := range plan.Steps {
		if s.Entity == decide.EntityRelease && s.ID == id && s.On == decide.OnStart {
			return true
		}
	}
	return false
}

// pausedRollouts describes the rollouts a promote would advance: those
// paused for a person, with the step they are at.
func pausedRollouts(all []shipgate.Rollout) []map[string]any {
	var out []map[string]any
	for _, ro := range all {
		if ro.Status.Phase != shipgate.RolloutPaused {
			continue
		}
		out = append(out, map[string]any{"job": ro.Job, "step": ro.Status.Step, "weight": ro.Status.Weight})
	}
	return out
}

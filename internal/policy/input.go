package policy

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/shipgate/shipgate"
)

// Facts are what a gate judges; Input turns them into the input document.
type Facts struct {
	Point string
	// Release is the release judged; at a create it has no id yet.
	Release *shipgate.Release
	// Evidence is shipgate.EvidenceInput of the release's evidence.
	Evidence  map[string]any
	Approvals []shipgate.Approval
	Actor     string
	Time      time.Time
	// Current is the environment's current release, or nil.
	Current *shipgate.Release
	// Promote is set at the promote point: the job and the step a person
	// is promoting through.
	Promote map[string]any
}

// Input builds the input document as canonical JSON. Its top level is
// exactly point, release, evidence, approvals, actor, time, environment
// and current_release (plus promote at the promote point). Secret input
// values never appear: release.secret_inputs lists their names only.
func Input(f Facts) ([]byte, error) {
	rel, err := releaseDoc(f.Release)
	if err != nil {
		return nil, err
	}
	var cur any
	if f.Current != nil {
		if cur, err = releaseDoc(f.Current); err != nil {
			return nil, err
		}
	}
	approvals := make([]map[string]any, 0, len(f.Approvals))
	for _, a := range f.Approvals {
		m := map[string]any{"actor": a.Actor, "decision": a.Decision, "digest": a.Digest, "comment": a.Comment,
			"at": a.CreatedAt.UTC().Format(time.RFC3339Nano), "counts": a.Counts(f.Time)}
		approvals = append(approvals, m)
	}
	ev := f.Evidence
	if ev == nil {
		ev = shipgate.EvidenceInput(nil)
	}
	doc := map[string]any{
		"point":           f.Point,
		"release":         rel,
		"evidence":        ev,
		"approvals":       approvals,
		"actor":           f.Actor,
		"time":            f.Time.UTC().Format(time.RFC3339Nano),
		"environment":     f.Release.Policy,
		"current_release": cur,
	}
	if f.Promote != nil {
		doc["promote"] = f.Promote
	}
	return Canonical(doc)
}

// releaseDoc is a release as policies see it: its content and state,
// with secret inputs as names only.
func releaseDoc(r *shipgate.Release) (map[string]any, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m["secret_inputs"] = slices.Sorted(maps.Keys(r.SecretInputs))
	if m["inputs"] == nil {
		m["inputs"] = map[string]any{}
	}
	delete(m, "generation")
	return m, nil
}

// Decide evaluates facts under c and returns the decision to record (no
// id yet). The time is the one the policies see and the one recorded.
func (c *Compiled) Decide(ctx context.Context, f Facts) (*shipgate.PolicyDecision, error) {
	input, err := Input(f)
	if err != nil {
		return nil, err
	}
	digest, _, err := BundleDigest(c.bundle)
	if err != nil {
		return nil, err
	}
	res := c.Evaluate(ctx, input, f.Time)
	rd, _, err := ResultDigest(res)
	if err != nil {
		return nil, err
	}
	d := &shipgate.PolicyDecision{
		Point: f.Point, Service: f.Release.Service, Environment: f.Release.Environment, Actor: f.Actor,
		Policies: c.bundle.Names(), BundleDigest: digest, InputDigest: Digest(input), Input: string(input),
		PolicyResult: res, ResultDigest: rd, At: f.Time,
	}
	if f.Release.ID != 0 {
		d.ReleaseID = f.Release.ID
	}
	return d, nil
}

// Replay evaluates a recorded decision's input again under bundle (the
// one whose digest it recorded) and returns the result's canonical JSON
// next to the recorded one's. The clock is the recorded time, read back
// from the input.
func Replay(ctx context.Context, b shipgate.PolicyBundle, d *shipgate.PolicyDecision) (got, want []byte, err error) {
	digest, _, err := BundleDigest(b)
	if err != nil {
		return nil, nil, err
	}
	if digest != d.BundleDigest {
		return nil, nil, shipgate.Errorf(shipgate.EINTERNAL, "the stored bundle's digest is %s, not the recorded %s", digest, d.BundleDigest)
	}
	if Digest([]byte(d.Input)) != d.InputDigest {
		return nil, nil, shipgate.Errorf(shipgate.EINTERNAL, "the stored input's digest does not match the recorded %s", d.InputDigest)
	}
	var hdr struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal([]byte(d.Input), &hdr); err != nil {
		return nil, nil, err
	}
	if _, want, err = ResultDigest(d.PolicyResult); err != nil {
		return nil, nil, err
	}
	var res shipgate.PolicyResult
	if len(b.Modules) == 0 {
		res = shipgate.PolicyResult{Result: shipgate.PolicyAllow, Deny: []string{}, Warn: []string{}}
	} else {
		c, err := Compile(b)
		if err != nil {
			// A bundle that compiled once compiles again; if it does not
			// (an OPA upgrade), say so rather than report a mismatch.
			return nil, want, err
		}
		res = c.Evaluate(ctx, []byte(d.Input), hdr.Time)
	}
	_, got, err = ResultDigest(res)
	return got, want, err
}

// DecideBundle compiles b and decides f under it. A bundle that does not
// compile (it compiled when applied, so a changed OPA or a policy that
// another one now conflicts with) is an evaluation error: it blocks.
// It also returns the bundle's canonical JSON, to keep with the decision.
func DecideBundle(ctx context.Context, b shipgate.PolicyBundle, f Facts) (*shipgate.PolicyDecision, []byte, error) {
	digest, raw, err := BundleDigest(b)
	if err != nil {
		return nil, nil, err
	}
	c, cerr := Compile(b)
	if cerr == nil {
		d, err := c.Decide(ctx, f)
		return d, raw, err
	}
	input, err := Input(f)
	if err != nil {
		return nil, nil, err
	}
	res := shipgate.PolicyResult{Result: shipgate.PolicyError, Deny: []string{}, Warn: []string{}, Error: clip(shipgate.ErrorMessage(cerr))}
	rd, _, err := ResultDigest(res)
	if err != nil {
		return nil, nil, err
	}
	return &shipgate.PolicyDecision{
		Point: f.Point, ReleaseID: f.Release.ID, Service: f.Release.Service, Environment: f.Release.Environment, Actor: f.Actor,
		Policies: b.Names(), BundleDigest: digest, InputDigest: Digest(input), Input: string(input),
		PolicyResult: res, ResultDigest: rd, At: f.Time,
	}, raw, nil
}

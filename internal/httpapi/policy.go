package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/policy"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Policy gates: apply and read policies, read and replay decisions, and
// dry-run proposed policies over past releases (docs/governance.md).

// maxEvalReleases bounds one dry run.
const maxEvalReleases = 1000

func (h *Handler) policyRoutes() []Route {
	return []Route{
		route("POST", "/api/v1/policies", shipgate.PermServiceApply, "Apply a policy (a Rego module, package shipgate.<name>)", h.applyPolicy),
		route("GET", "/api/v1/policies", shipgate.PermRead, "List policies at their current revisions", h.listPolicies),
		route("GET", "/api/v1/policies/{name}", shipgate.PermRead, "Show a policy with its source, at its current or a given revision", h.getPolicy),
		route("GET", "/api/v1/policy-decisions", shipgate.PermRead, "List recorded policy decisions", h.listPolicyDecisions),
		route("GET", "/api/v1/policy-decisions/{id}", shipgate.PermRead, "Show a policy decision with its input", h.getPolicyDecision),
		route("GET", "/api/v1/policy-decisions/{id}/replay", shipgate.PermRead, "Evaluate a recorded decision again under its recorded bundle", h.replayPolicyDecision),
		route("POST", "/api/v1/policy-eval", shipgate.PermRead, "Dry run: judge past releases by current or proposed policies, recording nothing", h.evalPolicies),
	}
}

// checkPolicies refuses a service file naming policies that do not exist.
func checkPolicies(ctx context.Context, tx *sqlstore.Tx, spec *shipgate.ServiceSpec) error {
	missing, err := tx.MissingPolicies(ctx, spec.PolicyNames())
	if err != nil || len(missing) == 0 {
		return err
	}
	set := map[string]bool{}
	for _, n := range missing {
		set[n] = true
	}
	return shipgate.MissingPolicyProblems(spec, set)
}

// parsePolicyFile compiles one file on its own and returns its name.
func parsePolicyFile(f client.PolicyFile) (shipgate.PolicyModule, error) {
	if f.Filename == "" {
		f.Filename = "policy.rego"
	}
	if err := shipgate.ValidateLine("filename", f.Filename, 256); err != nil {
		return shipgate.PolicyModule{}, err
	}
	if len(f.Source) > shipgate.MaxPolicySource {
		return shipgate.PolicyModule{}, shipgate.Errorf(shipgate.ETOOLARGE, "%s: policy is %d bytes, more than the limit of %d", f.Filename, len(f.Source), shipgate.MaxPolicySource)
	}
	name, err := policy.NameOf(f.Filename, f.Source)
	if err != nil {
		return shipgate.PolicyModule{}, err
	}
	m := shipgate.PolicyModule{Name: name, Filename: f.Filename, Source: f.Source}
	if _, err := policy.Compile(shipgate.PolicyBundle{Modules: []shipgate.PolicyModule{m}}); err != nil {
		return m, err
	}
	return m, nil
}

func (h *Handler) applyPolicy(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.PolicyFile
	if err := readJSON(r, &req); err != nil {
		return err
	}
	m, err := parsePolicyFile(req)
	if err != nil {
		return err
	}
	var out client.PolicyApplyResult
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		rev, changed, err := tx.ApplyPolicy(r.Context(), u.Name, shipgate.PolicySourceAPI, m.Name, m.Filename, m.Source)
		if err != nil {
			return err
		}
		out.Revision, out.Changed = *rev, changed
		return nil
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if out.Changed {
		status = http.StatusCreated
		h.changed() // releases held at start are judged again
	}
	writeJSON(w, status, out)
	return nil
}

func (h *Handler) listPolicies(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []shipgate.PolicyRevision
	if err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListPolicies(r.Context())
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getPolicy(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	rev, err := queryInt(r, "revision")
	if err != nil {
		return err
	}
	var out *shipgate.PolicyRevision
	if err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		out, err = tx.FindPolicy(r.Context(), r.PathValue("name"), int(rev))
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) listPolicyDecisions(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var f shipgate.PolicyDecisionFilter
	var err error
	if f.ReleaseID, err = queryInt(r, "release"); err != nil {
		return err
	}
	if f.AfterID, err = queryInt(r, "after"); err != nil {
		return err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	f.Limit = int(min(limit, 1000))
	q := r.URL.Query()
	if f.Point = q.Get("point"); f.Point != "" && !slices.Contains(shipgate.PolicyPoints, f.Point) {
		return shipgate.Errorf(shipgate.EINVALID, "point %q is not one of create, approve, start, promote", f.Point)
	}
	if f.Result = q.Get("result"); f.Result != "" && f.Result != shipgate.PolicyAllow && f.Result != shipgate.PolicyDeny && f.Result != shipgate.PolicyError {
		return shipgate.Errorf(shipgate.EINVALID, "result %q is not one of allow, deny, error", f.Result)
	}
	var out []shipgate.PolicyDecision
	if err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		out, err = tx.ListPolicyDecisions(r.Context(), f)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getPolicyDecision(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var out *shipgate.PolicyDecision
	if err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		out, err = tx.FindPolicyDecision(r.Context(), id)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) replayPolicyDecision(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var d *shipgate.PolicyDecision
	var b shipgate.PolicyBundle
	if err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		if d, err = tx.FindPolicyDecision(r.Context(), id); err != nil {
			return err
		}
		// The row must be the one the audit chain recorded: a replay of
		// a rewritten input would vouch for the forgery.
		if err = tx.CheckPolicyDecision(r.Context(), d); err != nil {
			return err
		}
		b, _, err = tx.FindPolicyBundle(r.Context(), d.BundleDigest)
		return err
	}); err != nil {
		return err
	}
	got, want, err := policy.Replay(r.Context(), b, d)
	if err != nil {
		return err
	}
	d.Input = ""
	writeJSON(w, http.StatusOK, client.PolicyReplay{Decision: *d, Recorded: string(want), Replayed: string(got), Match: string(got) == string(want)})
	return nil
}

func (h *Handler) evalPolicies(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.PolicyEvalRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if !slices.Contains(shipgate.PolicyPoints, req.Point) {
		return shipgate.Errorf(shipgate.EINVALID, "point %q is not one of create, approve, start, promote", req.Point)
	}
	// Proposed policies are Rego the caller wrote, run on the server (up
	// to EvalTimeout for each of up to 1000 releases): only those who may
	// apply a policy may dry-run one.
	if len(req.Proposed) > 0 && !u.Can(shipgate.PermServiceApply) {
		return shipgate.Errorf(shipgate.EFORBIDDEN, "user %q may not dry-run proposed policies: it needs the %q permission (the one that applies them), which %s%s",
			u.Name, shipgate.PermServiceApply, rolesDoNotGrant(u.Roles), grantedBy(shipgate.PermServiceApply))
	}
	var proposed []shipgate.PolicyModule
	for _, f := range req.Proposed {
		m, err := parsePolicyFile(f)
		if err != nil {
			return err
		}
		proposed = append(proposed, m)
	}
	if len(proposed) > 0 {
		if _, err := policy.Compile(shipgate.PolicyBundle{Modules: proposed}); err != nil {
			return err
		}
	}
	var since time.Time
	if req.Since != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, req.Since); err != nil {
			return shipgate.Errorf(shipgate.EINVALID, "since %q is not an RFC 3339 time", req.Since)
		}
	}
	ranges := 0
	for _, set := range []bool{len(req.Releases) > 0, req.From != 0 || req.To != 0, req.Since != ""} {
		if set {
			ranges++
		}
	}
	if ranges != 1 {
		return shipgate.Errorf(shipgate.EINVALID, "name the releases to judge in one way: releases, from..to, or since")
	}
	if req.From != 0 || req.To != 0 {
		if req.From <= 0 || req.To < req.From {
			return shipgate.Errorf(shipgate.EINVALID, "release range %d..%d is not valid: use A..B with 0 < A <= B", req.From, req.To)
		}
		if req.To-req.From >= maxEvalReleases {
			return shipgate.Errorf(shipgate.EINVALID, "a dry run judges at most %d releases; %d..%d is %d", maxEvalReleases, req.From, req.To, req.To-req.From+1)
		}
	}
	if len(req.Releases) > maxEvalReleases {
		return shipgate.Errorf(shipgate.EINVALID, "a dry run judges at most %d releases, not %d", maxEvalReleases, len(req.Releases))
	}
	out := client.PolicyEvalResult{Point: req.Point, Results: []shipgate.PolicyDecision{}}
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		rels, err := evalReleases(r.Context(), tx, req, since)
		if err != nil {
			return err
		}
		for _, rel := range rels {
			d, err := reconcile.DryRun(r.Context(), tx, req.Point, rel, u.Name, proposed, rel.CreatedAt)
			if err != nil {
				return err
			}
			d.ReleaseID = rel.ID
			if d.Blocks() {
				out.Blocked++
			}
			d.Input = ""
			out.Results = append(out.Results, *d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// evalReleases finds the releases a dry run judges, oldest first.
func evalReleases(ctx context.Context, tx *sqlstore.Tx, req client.PolicyEvalRequest, since time.Time) ([]*shipgate.Release, error) {
	var out []*shipgate.Release
	switch {
	case len(req.Releases) > 0:
		for _, id := range req.Releases {
			rel, err := tx.FindRelease(ctx, id)
			if err != nil {
				return nil, err
			}
			out = append(out, rel)
		}
	case req.Since != "":
		var before int64
		for len(out) < maxEvalReleases {
			page, err := tx.ListReleases(ctx, shipgate.ReleaseFilter{Limit: 200, BeforeID: before})
			if err != nil {
				return nil, err
			}
			for _, rel := range page {
				if rel.CreatedAt.Before(since) {
					slices.Reverse(out)
					return out, nil
				}
				out = append(out, rel)
			}
			if len(page) < 200 {
				break
			}
			before = page[len(page)-1].ID
		}
		slices.Reverse(out)
	default:
		for id := req.From; id <= req.To; id++ {
			rel, err := tx.FindRelease(ctx, id)
			if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
				continue
			} else if err != nil {
				return nil, err
			}
			out = append(out, rel)
		}
	}
	return out, nil
}

// policyWarnings adds the warn messages of release id's decisions at
// point to warnings, for the answer to the command that made them.
func policyWarnings(ctx context.Context, tx *sqlstore.Tx, id int64, point string, warnings []string) ([]string, error) {
	ds, err := tx.ListPolicyDecisions(ctx, shipgate.PolicyDecisionFilter{ReleaseID: id, Point: point})
	if err != nil {
		return warnings, err
	}
	for _, d := range ds {
		for _, w := range d.Warn {
			warnings = append(warnings, fmt.Sprintf("policy (decision %d, at %s): %s", d.ID, point, w))
		}
	}
	return warnings, nil
}

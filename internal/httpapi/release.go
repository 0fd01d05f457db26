package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) createRelease(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.CreateReleaseRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Service == "" || req.Environment == "" || req.Version == "" || req.Artifact == "" {
		return shipgate.Errorf(shipgate.EINVALID, "service, environment, version and artifact are required")
	}
	// Refuse unprintable text before reading a possibly large artifact.
	if err := shipgate.ValidateNewRelease(req.Version, req.Artifact, shipgate.Source{Commit: req.Commit, Ref: req.Ref}); err != nil {
		return err
	}
	if req.CommittedAt != nil && req.Commit == "" {
		return shipgate.Errorf(shipgate.EINVALID, "committed_at is given without a commit")
	}
	want := strings.ToLower(req.SHA256)
	if want != "" && !shipgate.IsSHA256Hex(want) {
		return shipgate.Errorf(shipgate.EINVALID, "sha256 %q is not 64 hex digits", req.SHA256)
	}
	if err := shipgate.ValidateInputs(req.Inputs, keys(req.SecretInputs)); err != nil {
		return err
	}
	if err := shipgate.ValidateInputSizes(req.Inputs, req.SecretInputs); err != nil {
		return err
	}
	// Check the service, environment and inputs before reading a possibly
	// large artifact, and outside any transaction: matching values against
	// patterns takes time. CreateRelease checks names and required inputs
	// again inside its transaction but trusts this match, and refuses a
	// release of another revision than the one checked here.
	var svc *shipgate.Service
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		if svc, err = tx.FindService(r.Context(), req.Service); err != nil {
			return err
		}
		return tx.CheckReleaseFlags(r.Context(), req.Service, req.Environment, req.Flags)
	})
	if err != nil {
		return err
	}
	env, ok := svc.Spec.Environment(req.Environment)
	if !ok {
		return shipgate.Errorf(shipgate.EINVALID, "service %q has no environment %q (it has %s)", req.Service, req.Environment, strings.Join(svc.Spec.EnvironmentNames(), ", "))
	}
	revision := svc.Revision
	var warnings []string
	if err := checkInputs(svc, env, req, &warnings); err != nil {
		return err
	}
	if len(req.SecretInputs) > 0 && h.Secrets == nil {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no secret key, so it cannot store secret inputs")
	}
	// The bytes are stored before the release exists; if it is then
	// refused (a requires not met), they stay unreferenced until gc.
	art, err := h.Artifacts.Pin(r.Context(), req.Artifact, want)
	if err != nil {
		return err
	}
	nr := sqlstore.NewRelease{
		Service: req.Service, Environment: req.Environment, Version: req.Version,
		Artifact:  art,
		Source:    shipgate.Source{Commit: req.Commit, CommittedAt: req.CommittedAt, Ref: req.Ref},
		Inputs:    req.Inputs,
		Flags:     req.Flags,
		Hotfix:    req.Hotfix,
		Fixes:     req.Fixes,
		CreatedBy: u.Name,
		// The secret values were checked against this revision.
		CheckedRevision: revision,
	}
	if len(req.SecretInputs) > 0 {
		nr.Secrets = map[string]sqlstore.SealedSecret{}
		for k, v := range req.SecretInputs {
			nr.Secrets[k] = sqlstore.SealedSecret{Sealed: h.Secrets.Seal(k, v), Fingerprint: h.Secrets.Fingerprint(k, v)}
		}
	}
	var id int64
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		rel, err := reconcile.CreateRelease(r.Context(), tx, nr)
		if err != nil {
			return err
		}
		id = rel.ID
		if warnings, err = policyWarnings(r.Context(), tx, id, shipgate.PolicyPointCreate, warnings); err != nil {
			return err
		}
		// Created even if nobody can approve it yet (people may be added
		// or given the role), but the creator is told.
		if msg, err := tx.ReleaseApprovalWarning(r.Context(), rel); err != nil {
			return err
		} else if msg != "" {
			warnings = append(warnings, msg)
		}
		_, _, err = reconcile.Release(r.Context(), tx, id)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	v, err := h.view(r.Context(), id)
	if err != nil {
		return err
	}
	v.Warnings = warnings
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// checkInputs checks a new release's inputs against the declarations that
// apply to env (see shipgate.ResolveInputs and CheckSecretInputs), and
// adds a warning when the service declares none, so nothing checks them.
func checkInputs(svc *shipgate.Service, env *shipgate.Environment, req client.CreateReleaseRequest, warnings *[]string) error {
	decls := svc.Spec.EffectiveInputs(env)
	if _, _, err := shipgate.ResolveInputs(decls, req.Inputs, keys(req.SecretInputs)); err != nil {
		return err
	}
	if err := shipgate.CheckSecretInputs(decls, req.SecretInputs); err != nil {
		return err
	}
	if msg := shipgate.UndeclaredInputsWarning(svc.Name, decls, req.Inputs, keys(req.SecretInputs)); msg != "" {
		*warnings = append(*warnings, msg)
	}
	return nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (h *Handler) view(ctx context.Context, id int64) (*client.ReleaseView, error) {
	v := &client.ReleaseView{}
	err := h.DB.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		if v.Release, err = tx.FindRelease(ctx, id); err != nil {
			return err
		}
		if v.Approvals, err = tx.ListApprovals(ctx, id); err != nil {
			return err
		}
		if len(v.Release.Policy.Approvals.FromGroups) > 0 && v.Release.ApproverGroups == nil {
			legacy, err := tx.ApproverView(ctx, v.Release)
			if err != nil {
				return err
			}
			v.LegacyApproverGroups = legacy.ApproverGroups
		}
		if v.Release.State == shipgate.StatePendingApproval {
			t := shipgate.TallyApprovals(v.Release.Policy.Approvals, v.Approvals, tx.Now())
			v.Tally = &t
			if frozen, ok := v.Release.FrozenApprovers(); ok {
				users, err := tx.ListUsers(ctx)
				if err != nil {
					return err
				}
				for _, n := range shipgate.EligibleApprovers(v.Release.Policy.Approvals, users, v.Release.CreatedBy) {
					if slices.Contains(frozen, n) {
						v.MayApprove = append(v.MayApprove, n)
					}
				}
			}
		}
		v.Jobs = []shipgate.JobRun{}
		if v.Release.Run > 0 {
			if v.Jobs, err = tx.ListJobs(ctx, id, v.Release.Run); err != nil {
				return err
			}
		}
		if err := h.explainQueued(ctx, tx, v); err != nil {
			return err
		}
		if err := governanceView(ctx, tx, v); err != nil {
			return err
		}
		if v.Release.Run > 0 {
			probes, err := tx.ListProbes(ctx, id, v.Release.Run, 20)
			if err != nil {
				return err
			}
			for _, p := range probes {
				v.Probes = append(v.Probes, client.JobProbes(p))
			}
			ros, err := tx.ListRollouts(ctx, id, v.Release.Run)
			if err != nil {
				return err
			}
			v.Rollouts = rolloutViews(ros)
		}
		rb, err := tx.FindRollback(ctx, id)
		if err == nil {
			v.Rollback = rb
		} else if shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			return err
		}
		if v.Timeline, err = tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: id, Limit: 10000}); err != nil {
			return err
		}
		if rb != nil && rb.RollbackRelease != 0 {
			// One timeline for the postmortem: the rollback release's events
			// belong to this release's story.
			more, err := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: rb.RollbackRelease, Limit: 10000})
			if err != nil {
				return err
			}
			v.Timeline = append(v.Timeline, more...)
			sort.Slice(v.Timeline, func(i, j int) bool { return v.Timeline[i].Seq < v.Timeline[j].Seq })
		}
		if v.Timeline == nil {
			v.Timeline = []shipgate.AuditEvent{} // a release no event names: [], never null
		}
		return nil
	})
	return v, err
}

// explainQueued adds to each queued job whether any runner that is up could
// take it: a job whose labels no online agent has would otherwise wait
// without saying why.
func (h *Handler) explainQueued(ctx context.Context, tx *sqlstore.Tx, v *client.ReleaseView) error {
	var agents []*shipgate.Agent
	var blocked map[string]bool // drained, or their join token revoked
	loaded := false
	now := time.Now()
	for i := range v.Jobs {
		j := &v.Jobs[i]
		if j.State != shipgate.JobQueued {
			continue
		}
		if !loaded {
			var err error
			if agents, err = tx.ListAgents(ctx); err != nil {
				return err
			}
			if blocked, err = tx.BlockedAgents(ctx); err != nil {
				return err
			}
			loaded = true
		}
		spec, _ := v.Pipeline.Job(j.Name)
		if spec == nil {
			continue
		}
		env := v.Release.Environment
		labelled := h.LocalRunner != nil && h.LocalRunner.Matches(spec.RunsOn)
		allowed := labelled && h.LocalRunner.MayRun(env)
		for _, a := range agents {
			if a.StateAt(now, h.lostAfter()) == shipgate.AgentOnline && !blocked[a.Name] && a.Info().Matches(spec.RunsOn) {
				labelled = true
				allowed = allowed || a.Info().MayRun(env)
			}
		}
		if !labelled {
			j.Reason += "; no online agent has these labels"
			continue
		}
		if !allowed {
			j.Reason += fmt.Sprintf("; no online agent with these labels may take jobs of environment %s (their join tokens are limited to other environments)", env)
			continue
		}
		if spec.Service != nil && h.Dispatcher != nil {
			// The dispatcher keeps a service job for the agent that runs
			// the service; say which (by the dispatcher's own rule), so a
			// wait is not a mystery.
			home, err := h.Dispatcher.ServiceHome(ctx, tx, v.Release, *j)
			if err != nil {
				return err
			}
			if home != "" {
				j.Reason += fmt.Sprintf("; waits for agent %s, which runs this service", home)
			}
		}
	}
	return nil
}

func (h *Handler) writeRelease(w http.ResponseWriter, r *http.Request, status int, id int64) error {
	v, err := h.view(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

func (h *Handler) getRelease(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	return h.writeRelease(w, r, http.StatusOK, id)
}

func (h *Handler) listReleases(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	q := r.URL.Query()
	f := shipgate.ReleaseFilter{Service: q.Get("service"), Environment: q.Get("environment"), Version: q.Get("version"), CreatedBy: q.Get("created_by")}
	for _, s := range q["state"] {
		for _, part := range strings.Split(s, ",") {
			state, err := shipgate.ParseReleaseState(part)
			if err != nil {
				return err
			}
			f.States = append(f.States, state)
		}
	}
	awaiting := q.Get("awaiting")
	if awaiting != "" && awaiting != "me" {
		return shipgate.Errorf(shipgate.EINVALID, "awaiting=%q is not supported: use awaiting=me", awaiting)
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	before, err := queryInt(r, "before")
	if err != nil {
		return err
	}
	f.Limit, f.BeforeID = int(limit), before
	var out []*shipgate.Release
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		if awaiting == "me" {
			out, err = awaitingApproval(r.Context(), tx, u, f)
			return err
		}
		out, err = tx.ListReleases(r.Context(), f)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// awaitingScan bounds how many pending releases one awaiting=me list
// looks at, so a backlog of releases nobody may approve cannot make it
// slow.
const awaitingScan = 2000

// awaitingApproval lists, newest first, the pending releases matching f
// that u may approve now and has not decided: shipgate.AwaitsApprovalBy,
// the rule the approve route enforces, on each.
func awaitingApproval(ctx context.Context, tx *sqlstore.Tx, who *shipgate.User, f shipgate.ReleaseFilter) ([]*shipgate.Release, error) {
	out := []*shipgate.Release{}
	if len(f.States) > 0 && !slices.Contains(f.States, shipgate.StatePendingApproval) {
		return out, nil // only pending releases wait for anyone
	}
	u, err := tx.FindUser(ctx, who.Name) // as the approve route judges: the user as stored now
	if err != nil {
		return nil, err
	}
	want := f.Limit
	if want <= 0 {
		want = 50
	}
	want = min(want, 500)
	page := f
	page.States, page.Limit = []shipgate.ReleaseState{shipgate.StatePendingApproval}, 500
	for scanned := 0; scanned < awaitingScan && len(out) < want; {
		rels, err := tx.ListReleases(ctx, page)
		if err != nil {
			return nil, err
		}
		for _, rel := range rels {
			view, err := tx.ApproverView(ctx, rel)
			if err != nil {
				return nil, err
			}
			// Eligibility first (no query), then whether u decided already.
			if !shipgate.AwaitsApprovalBy(rel, view, nil, u, tx.Now()) {
				continue
			}
			approvals, err := tx.ListApprovals(ctx, rel.ID)
			if err != nil {
				return nil, err
			}
			if shipgate.AwaitsApprovalBy(rel, view, approvals, u, tx.Now()) {
				out = append(out, rel)
				if len(out) == want {
					break
				}
			}
		}
		scanned += len(rels)
		if len(rels) < page.Limit {
			break
		}
		page.BeforeID = rels[len(rels)-1].ID
	}
	return out, nil
}

// compareRelease says what a release changes against the release that
// runs in its environment now.
func (h *Handler) compareRelease(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var out client.ReleaseComparison
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		rel, err := tx.FindRelease(r.Context(), id)
		if err != nil {
			return err
		}
		out = client.ReleaseComparison{ReleaseID: id, PipelineDigest: rel.PipelineDigest(), PolicyDigest: rel.PolicyDigest(), Changes: []shipgate.ReleaseChange{}}
		cur, err := tx.CurrentRelease(r.Context(), rel.Service, rel.Environment)
		switch {
		case shipgate.ErrorCode(err) == shipgate.EFAILEDPRECONDITION:
			return nil // nothing has run there yet
		case err != nil:
			return err
		}
		out.Current, out.SameRelease = cur, cur.ID == rel.ID
		if !out.SameRelease {
			out.Changes = shipgate.CompareReleases(cur, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) logs(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after")
	if err != nil {
		return err
	}
	run, err := queryInt(r, "run")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	job := r.URL.Query().Get("job")
	resp := client.Logs{Next: after}
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		rel, err := tx.FindRelease(r.Context(), id)
		if err != nil {
			return err
		}
		resp.Run = int(run)
		if resp.Run == 0 {
			resp.Run = rel.Run
		}
		if resp.Run > rel.Run {
			return shipgate.Errorf(shipgate.ENOTFOUND, "release %d has no run %d", id, resp.Run)
		}
		if job != "" {
			if _, ok := rel.Pipeline.Job(job); !ok {
				return shipgate.Errorf(shipgate.ENOTFOUND, "release %d has no job %q", id, job)
			}
		}
		// Decide "done" before reading chunks, so a chunk stored in between
		// is returned now or on the next call, never lost.
		done := rel.State.Final() || resp.Run < rel.Run
		if !done && job != "" && resp.Run > 0 {
			jobs, err := tx.ListJobs(r.Context(), id, resp.Run)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				if j.Name == job {
					done = j.State.Final()
				}
			}
		}
		if resp.Run == 0 {
			resp.Chunks, resp.Done = []shipgate.LogChunk{}, done
			return nil
		}
		resp.Chunks, err = tx.ListLogs(r.Context(), id, resp.Run, job, after, int(limit))
		if err != nil {
			return err
		}
		if n := len(resp.Chunks); n > 0 {
			resp.Next = resp.Chunks[n-1].Cursor
		}
		if after == 0 {
			// Say where the front of a bounded log was dropped.
			jobs, err := tx.ListJobs(r.Context(), id, resp.Run)
			if err != nil {
				return err
			}
			var marks []shipgate.LogChunk
			for _, j := range jobs {
				if j.LogTruncated > 0 && (job == "" || j.Name == job) {
					marks = append(marks, shipgate.LogChunk{JobID: j.ID, Job: j.Name, Stream: "system",
						Data: fmt.Sprintf("[… %d bytes of earlier output dropped to keep this job's log within the server's limit …]\n", j.LogTruncated)})
				}
			}
			resp.Chunks = append(marks, resp.Chunks...)
		}
		page := int(limit)
		if page <= 0 || page > 5000 {
			page = 1000
		}
		resp.Done = done && len(resp.Chunks) < page
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

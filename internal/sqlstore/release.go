package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
)

// SealedSecret is a secret input as the store keeps it: encrypted, plus a
// keyed fingerprint that enters the release digest.
type SealedSecret struct {
	Sealed      []byte
	Fingerprint string
}

// NewRelease is a request to prepare a release. The caller has already
// fetched the artifact and verified its digest, and sealed the secrets: both
// are slow or need keys, and neither belongs inside a transaction.
type NewRelease struct {
	Service     string
	Environment string
	Version     string
	Artifact    shipgate.Artifact
	Source      shipgate.Source
	Inputs      map[string]string
	Secrets     map[string]SealedSecret
	CreatedBy   string
	// CheckedRevision, if not 0, is the service revision the caller
	// checked the inputs against, outside any transaction: it matched every
	// value, plain and secret (which the store never sees), against the
	// declared patterns with shipgate.ResolveInputs and CheckSecretInputs.
	// CreateRelease then checks names, secrecy and required inputs again
	// but does not match the values again (shipgate.ResolveInputsMatched),
	// which would hold the write lock for as long as matching takes. A
	// release of another revision is refused with conflict so those checks
	// are never skipped by a racing apply.
	CheckedRevision int
	// Flags names the flags the release introduces (release create
	// --flag): live flags of the service in the environment.
	Flags []string
	// Hotfix marks the release a fix-forward of Fixes, or when Fixes is 0
	// of the release currently deployed (see hotfixTarget).
	Hotfix bool
	Fixes  int64
}

// PrepareRelease freezes the service's current pipeline and the
// environment's policy into a new release, not yet stored (the decider
// decides its state; see reconcile.CreateRelease), and returns the facts
// of its release.created event. A release for an environment whose
// requires are not met is refused.
func (tx *Tx) PrepareRelease(ctx context.Context, nr NewRelease) (*shipgate.Release, map[string]any, error) {
	if err := shipgate.ValidateNewRelease(nr.Version, nr.Artifact.Location, nr.Source); err != nil {
		return nil, nil, err
	}
	if !shipgate.IsSHA256Hex(nr.Artifact.SHA256) {
		return nil, nil, shipgate.Errorf(shipgate.EINVALID, "artifact sha256 %q is not 64 hex digits", nr.Artifact.SHA256)
	}
	secretNames := make([]string, 0, len(nr.Secrets))
	for k := range nr.Secrets {
		secretNames = append(secretNames, k)
	}
	sort.Strings(secretNames)
	if err := shipgate.ValidateInputs(nr.Inputs, secretNames); err != nil {
		return nil, nil, err
	}
	svc, err := tx.FindService(ctx, nr.Service)
	if err != nil {
		return nil, nil, err
	}
	env, ok := svc.Spec.Environment(nr.Environment)
	if !ok {
		return nil, nil, shipgate.Errorf(shipgate.EINVALID, "service %q has no environment %q (it has %s)", nr.Service, nr.Environment, strings.Join(svc.Spec.EnvironmentNames(), ", "))
	}
	if nr.CheckedRevision != 0 && nr.CheckedRevision != svc.Revision {
		return nil, nil, shipgate.Errorf(shipgate.ECONFLICT, "service %q changed to revision %d while the release was being created against revision %d; create it again", nr.Service, svc.Revision, nr.CheckedRevision)
	}
	// Checked against the declarations this release freezes, in the same
	// transaction, so no caller and no racing apply gets around them; the
	// values are matched against their patterns here only if the caller
	// has not done it against this very revision (CheckedRevision).
	decls := svc.Spec.EffectiveInputs(env)
	resolve := shipgate.ResolveInputs
	if nr.CheckedRevision != 0 {
		resolve = shipgate.ResolveInputsMatched
	}
	inputs, defaulted, err := resolve(decls, nr.Inputs, secretNames)
	if err != nil {
		return nil, nil, err
	}
	succeeded := map[string]bool{}
	for _, req := range env.Requires {
		if succeeded[req], err = tx.hasSucceeded(ctx, nr.Service, req, nr.Version, nr.Artifact.SHA256); err != nil {
			return nil, nil, err
		}
	}
	if err := shipgate.CheckRequires(env, nr.Version, nr.Artifact.SHA256, succeeded); err != nil {
		return nil, nil, err
	}
	fingerprints := map[string]string{}
	for k, s := range nr.Secrets {
		fingerprints[k] = s.Fingerprint
	}
	approvers, err := tx.freezeApprovers(ctx, env.Approvals)
	if err != nil {
		return nil, nil, err
	}
	if err := tx.CheckReleaseFlags(ctx, nr.Service, nr.Environment, nr.Flags); err != nil {
		return nil, nil, err
	}
	hotfixOf, err := tx.hotfixTarget(ctx, nr)
	if err != nil {
		return nil, nil, err
	}
	r := &shipgate.Release{
		ReleaseContent: shipgate.ReleaseContent{
			HotfixOf: hotfixOf,
			Service:  nr.Service, ServiceRevision: svc.Revision, Environment: nr.Environment, Version: nr.Version,
			Kind: shipgate.ReleaseKindDeploy, Artifact: nr.Artifact, Source: nr.Source, Inputs: inputs,
			SecretInputs: fingerprints, InputDeclarations: decls, DefaultedInputs: defaulted,
			Pipeline: svc.Spec.Pipeline, Policy: *env, ApproverGroups: approvers,
			Owner: svc.Spec.Owner, Runbook: svc.Spec.Runbook, Flags: nr.Flags,
			CreatedBy: nr.CreatedBy, CreatedAt: tx.now,
		},
	}
	r.Digest = r.ReleaseContent.Digest()
	details := map[string]any{
		"service": r.Service, "environment": r.Environment, "version": r.Version, "digest": r.Digest,
		"service_revision": r.ServiceRevision, "artifact": r.Artifact, "source": r.Source,
		"inputs": inputs, "secret_inputs": secretNames,
	}
	if len(defaulted) > 0 {
		details["defaulted_inputs"] = defaulted
	}
	if len(nr.Flags) > 0 {
		details["flags"] = nr.Flags
	}
	if hotfixOf != 0 {
		details["hotfix_of"] = hotfixOf
	}
	return r, details, nil
}

// PutReleaseSecrets stores the sealed secret inputs of a new release.
func (tx *Tx) PutReleaseSecrets(ctx context.Context, id int64, secrets map[string]SealedSecret) error {
	names := make([]string, 0, len(secrets))
	for k := range secrets {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, err := tx.exec(ctx, `INSERT INTO release_secrets (release_id, name, sealed) VALUES (?, ?, ?)`, id, k, secrets[k].Sealed); err != nil {
			return err
		}
	}
	return nil
}

// CopyReleaseSecrets gives release id the sealed secret inputs of release
// from: a rollback release restores its target's.
func (tx *Tx) CopyReleaseSecrets(ctx context.Context, id, from int64) error {
	_, err := tx.exec(ctx, `INSERT INTO release_secrets (release_id, name, sealed) SELECT ?, name, sealed FROM release_secrets WHERE release_id = ?`, id, from)
	return err
}

// insertRelease computes r's digest and stores it.
func (tx *Tx) insertRelease(ctx context.Context, r *shipgate.Release) error {
	r.Digest = r.ReleaseContent.Digest()
	if r.State == "" {
		return fmt.Errorf("insert release: no state decided")
	}
	content, err := json.Marshal(r.ReleaseContent)
	if err != nil {
		return err
	}
	var rollbackOf any
	if r.RollbackOf != 0 {
		rollbackOf = r.RollbackOf
	}
	err = tx.queryRow(ctx, `INSERT INTO releases (service, environment, version, kind, artifact_sha256, content, digest, state, reason, run, created_by, created_at, updated_at, generation, rollback_of)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 1, ?) RETURNING id`,
		r.Service, r.Environment, r.Version, r.Kind, r.Artifact.SHA256, string(content), r.Digest, r.State, r.Reason, r.CreatedBy, micros(tx.now), micros(tx.now), rollbackOf).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("insert release: %w", err)
	}
	return tx.storeDORAFacts(ctx, r)
}

// NewRollback asks for a rollback release of Of, restoring Target.
// Reason is what the person who asked for it said (empty for the policy).
type NewRollback struct {
	Of          *shipgate.Release
	Target      *shipgate.Release
	TriggeredBy string
	Actor       string
	Reason      string
}

// PrepareRollbackRelease prepares, not yet stored, the release that rolls Of back: same
// service and environment, Target's version, artifact, inputs (secret ones
// included) and pipeline, under the environment's current policy. Target
// must have succeeded in this environment (a *RefusedRollbackError
// otherwise): the rollback then needs no new approval, and its audit
// event says so. Its service jobs move traffic by the environment's
// rollback_strategy when that fits Target's pipeline, else all at once
// (shipgate.RestoredPipeline).
func (tx *Tx) PrepareRollbackRelease(ctx context.Context, nr NewRollback) (*shipgate.Release, map[string]any, error) {
	of, target := nr.Of, nr.Target
	if err := shipgate.ValidateLine("reason", nr.Reason, shipgate.MaxCommentLen); err != nil {
		return nil, nil, err
	}
	// Only what succeeded here is restored: a rollback skips approval,
	// deploy windows and the canary because it ran here before.
	if err := shipgate.CheckRollbackTarget(of, target); err != nil {
		return nil, nil, err
	}
	artifactNote, err := tx.CheckArtifact(ctx, of, target)
	if err != nil {
		return nil, nil, err
	}
	svc, err := tx.FindService(ctx, of.Service)
	if err != nil {
		return nil, nil, err
	}
	env, ok := svc.Spec.Environment(of.Environment)
	if !ok {
		return nil, nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "service %q no longer has environment %q", of.Service, of.Environment)
	}
	pipeline, strategyNote, err := shipgate.RestoredPipeline(target.ID, target.Pipeline, env.RollbackStrategy)
	if err != nil {
		return nil, nil, &RefusedRollbackError{Of: of.ID, Target: target.ID, Version: target.Version, Reason: shipgate.ErrorMessage(err)}
	}
	approvers, err := tx.freezeApprovers(ctx, env.Approvals)
	if err != nil {
		return nil, nil, err
	}
	approval := fmt.Sprintf("skipped: restores version %s, which was approved and succeeded in %s as release %d", target.Version, of.Environment, target.ID)
	r := &shipgate.Release{
		ReleaseContent: shipgate.ReleaseContent{
			Service: of.Service, ServiceRevision: svc.Revision, Environment: of.Environment, Version: target.Version,
			Kind: shipgate.ReleaseKindRollback, Artifact: target.Artifact, Source: target.Source, Inputs: target.Inputs,
			// The restored pipeline, but moving traffic as the environment
			// says a rollback does (all at once by default, or when its
			// rollback_strategy does not fit): frozen here so the
			// rollback's content says what it will do.
			SecretInputs: target.SecretInputs, Pipeline: pipeline, Policy: *env, ApproverGroups: approvers,
			Owner: svc.Spec.Owner, Runbook: svc.Spec.Runbook,
			// The inputs as they were approved and ran, with the
			// declarations they were checked against then: never checked
			// again, so changed declarations cannot block a rollback.
			InputDeclarations: target.InputDeclarations, DefaultedInputs: target.DefaultedInputs,
			CreatedBy: nr.Actor, CreatedAt: tx.now,
			RollbackOf: of.ID, RestoresRelease: target.ID, TriggeredBy: nr.TriggeredBy,
			ApprovalSkipped: approval, RollbackStrategyNote: strategyNote,
		},
	}
	r.Digest = r.ReleaseContent.Digest()
	created := map[string]any{
		"service": r.Service, "environment": r.Environment, "version": r.Version, "digest": r.Digest,
		"kind": r.Kind, "rollback_of": of.ID, "restores_release": target.ID, "triggered_by": nr.TriggeredBy,
		"artifact": r.Artifact, "approval": approval, "rollout": rolloutSummary(&pipeline),
	}
	if strategyNote != "" {
		created["rollback_strategy"] = strategyNote
	}
	if nr.Reason != "" {
		created["reason"] = nr.Reason
	}
	if artifactNote != "" {
		created["artifact_check"] = artifactNote
	}
	return r, created, nil
}

// rolloutSummary says how a rollback release's pipeline moves traffic: the
// strategy its service jobs share (RollbackPipeline gives them one).
func rolloutSummary(pl *shipgate.Pipeline) string {
	for _, j := range pl.Jobs {
		if j.Service != nil {
			return shipgate.StrategySummary(j.Strategy)
		}
	}
	return shipgate.StrategySummary(nil)
}

// freezeApprovers reads the enabled members of the policy's from_groups
// for a release being created (see ReleaseContent.ApproverGroups).
func (tx *Tx) freezeApprovers(ctx context.Context, p shipgate.ApprovalPolicy) (map[string][]string, error) {
	if len(p.FromGroups) == 0 {
		return nil, nil
	}
	members, err := tx.groupMembers(ctx, p.FromGroups, nil, true)
	if err != nil {
		return nil, err
	}
	return shipgate.FreezeApprovers(p, members), nil
}

// hasSucceeded reports whether this exact version and artifact succeeded in
// env.
func (tx *Tx) hasSucceeded(ctx context.Context, service, env, version, sha string) (bool, error) {
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM releases WHERE service = ? AND environment = ? AND version = ? AND artifact_sha256 = ? AND succeeded_at IS NOT NULL LIMIT 1`,
		service, env, version, sha).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

const releaseColumns = `id, content, digest, state, reason, wait_until, run, updated_at, finished_at, generation, succeeded_at`

func scanRelease(sc interface{ Scan(...any) error }) (*shipgate.Release, error) {
	r, content, err := scanReleaseRow(sc)
	if err != nil {
		return nil, err
	}
	return r, decodeRelease(r, content)
}

// scanReleaseRow reads a release row, leaving its frozen content to decode.
func scanReleaseRow(sc interface{ Scan(...any) error }) (*shipgate.Release, string, error) {
	r := &shipgate.Release{}
	var content string
	var wait, finished, succeeded sql.NullInt64
	var updated int64
	if err := sc.Scan(&r.ID, &content, &r.Digest, &r.State, &r.Reason, &wait, &r.Run, &updated, &finished, &r.Generation, &succeeded); err != nil {
		return nil, "", err
	}
	r.WaitUntil, r.FinishedAt, r.UpdatedAt, r.SucceededAt = fromNullMicros(wait), fromNullMicros(finished), fromMicros(updated), fromNullMicros(succeeded)
	return r, content, nil
}

func decodeRelease(r *shipgate.Release, content string) error {
	if err := json.Unmarshal([]byte(content), &r.ReleaseContent); err != nil {
		return fmt.Errorf("decode release %d: %w", r.ID, err)
	}
	return nil
}

// decodedRelease is a release's frozen content decoded earlier in the
// same transaction, with the text it was decoded from.
type decodedRelease struct {
	content string
	rc      shipgate.ReleaseContent
}

// FindRelease returns one release. Within one transaction its frozen
// content is decoded once: a job's finish reads its release three times
// or more (the report, the reconcile of the release, whether it ended),
// and decoding a pipeline of a hundred jobs was a fifth of the server's
// CPU with 200 agents. The releases returned share that content's maps
// and slices, which nobody changes: it is frozen.
func (tx *Tx) FindRelease(ctx context.Context, id int64) (*shipgate.Release, error) {
	r, content, err := scanReleaseRow(tx.queryRow(ctx, `SELECT `+releaseColumns+` FROM releases WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "release %d does not exist", id)
	}
	if d, ok := tx.decoded[id]; ok && d.content == content {
		r.ReleaseContent = d.rc
		return r, nil
	}
	tx.db.releaseDecodes.Add(1)
	if err := decodeRelease(r, content); err != nil {
		return nil, err
	}
	if tx.decoded == nil {
		tx.decoded = map[int64]decodedRelease{}
	}
	tx.decoded[id] = decodedRelease{content: content, rc: r.ReleaseContent}
	return r, nil
}

// ListReleases returns releases matching f, newest first. Limit defaults to
// 50 and is capped at 500.
func (tx *Tx) ListReleases(ctx context.Context, f shipgate.ReleaseFilter) ([]*shipgate.Release, error) {
	q := `SELECT ` + releaseColumns + ` FROM releases WHERE 1 = 1`
	var args []any
	if f.Service != "" {
		q += ` AND service = ?`
		args = append(args, f.Service)
	}
	if f.Environment != "" {
		q += ` AND environment = ?`
		args = append(args, f.Environment)
	}
	if f.Version != "" {
		q += ` AND version = ?`
		args = append(args, f.Version)
	}
	if f.CreatedBy != "" {
		q += ` AND created_by = ?`
		args = append(args, f.CreatedBy)
	}
	if len(f.States) > 0 {
		q += ` AND state IN (?` + strings.Repeat(", ?", len(f.States)-1) + `)`
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.BeforeID > 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(min(limit, 500))
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*shipgate.Release{}
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ActiveReleaseIDs lists releases the reconciler must look at: those not in
// a final state, failed ones whose rollback is pending, and those with a
// wait for a person still open (ended by a reject or cancel, it is closed
// by the reconciler, which resolves its escalation).
func (tx *Tx) ActiveReleaseIDs(ctx context.Context) ([]int64, error) {
	rows, err := tx.query(ctx, `SELECT id FROM releases WHERE state IN (?, ?, ?)
		UNION SELECT release_id FROM rollbacks WHERE state = ?
		UNION SELECT release_id FROM attentions WHERE closed_at IS NULL ORDER BY 1`,
		shipgate.StatePendingApproval, shipgate.StateQueued, shipgate.StateRunning, shipgate.RollbackPending)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// ReleaseAhead returns the release that r must wait for before it may
// start: a running release of the same service and environment, one queued
// before it, or an earlier failed one whose rollback is pending (a rollback
// release waits only for a running one). It returns nil when r may go. Two index lookups, so
// the cost does not grow with the environment's history.
func (tx *Tx) ReleaseAhead(ctx context.Context, r *shipgate.Release) (*shipgate.Release, error) {
	queries := []struct {
		where string
		args  []any
	}{
		{`state = ? AND id <> ?`, []any{shipgate.StateRunning, r.ID}},
		{`state = ? AND id < ?`, []any{shipgate.StateQueued, r.ID}},
	}
	if r.Kind == shipgate.ReleaseKindRollback {
		queries = queries[:1] // a rollback goes ahead of queued deploys
	} else {
		// A deploy does not start while an earlier release's rollback is
		// pending: the environment is about to be rolled back.
		queries = append(queries, struct {
			where string
			args  []any
		}{`state = ? AND id < ? AND id IN (SELECT release_id FROM rollbacks WHERE state = ?)`, []any{shipgate.StateFailed, r.ID, shipgate.RollbackPending}})
	}
	for _, q := range queries {
		a, err := scanRelease(tx.queryRow(ctx, `SELECT `+releaseColumns+` FROM releases
			WHERE service = ? AND environment = ? AND `+q.where+` ORDER BY id LIMIT 1`,
			append([]any{r.Service, r.Environment}, q.args...)...))
		if err == nil {
			return a, nil
		} else if err != sql.ErrNoRows {
			return nil, err
		}
	}
	return nil, nil
}

// updateRelease writes the lifecycle fields of r (state, reason, wait,
// run, finish time) if nobody changed the release since r was read, and
// bumps its generation. Content is immutable and never written.
func (tx *Tx) updateRelease(ctx context.Context, r *shipgate.Release) error {
	if r.State == shipgate.StateSucceeded && r.SucceededAt == nil {
		now := tx.now
		r.SucceededAt = &now
	}
	res, err := tx.exec(ctx, `UPDATE releases SET state = ?, reason = ?, wait_until = ?, run = ?, finished_at = ?, succeeded_at = ?, updated_at = ?, generation = generation + 1,
		`+doraTimesSet+` WHERE id = ? AND generation = ?`,
		append([]any{r.State, r.Reason, microsPtr(r.WaitUntil), r.Run, microsPtr(r.FinishedAt), microsPtr(r.SucceededAt), micros(tx.now)},
			append(doraTimesArgs(r.State, tx.now), r.ID, r.Generation)...)...)
	if err != nil {
		return fmt.Errorf("update release %d: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return shipgate.Errorf(shipgate.ECONFLICT, "release %d was changed concurrently; retry", r.ID)
	}
	r.Generation++
	r.UpdatedAt = tx.now
	return nil
}

// ReleaseSecrets returns the sealed secret inputs of a release.
func (tx *Tx) ReleaseSecrets(ctx context.Context, id int64) (map[string][]byte, error) {
	rows, err := tx.query(ctx, `SELECT name, sealed FROM release_secrets WHERE release_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var n string
		var b []byte
		if err := rows.Scan(&n, &b); err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, rows.Err()
}

// NewerSucceeded returns the newest release of r's service and environment
// created after r that succeeded: rerunning r would roll it back.
func (tx *Tx) NewerSucceeded(ctx context.Context, r *shipgate.Release) (*shipgate.Release, error) {
	return tx.findOne(ctx, "no newer release succeeded", `service = ? AND environment = ? AND id > ? AND state = ?`, r.Service, r.Environment, r.ID, shipgate.StateSucceeded)
}

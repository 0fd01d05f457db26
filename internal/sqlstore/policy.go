package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shipgate/shipgate"
)

// ApplyPolicy stores source as the next revision of policy name, unless
// it is the current one already (changed false). The caller has compiled
// it. A name that came from the server's --policy-dir is the directory's:
// `policy apply` of it is refused (conflict), while the directory takes
// over a name applied through the API (the directory wins, audited).
func (tx *Tx) ApplyPolicy(ctx context.Context, actor, origin, name, filename, source string) (rev *shipgate.PolicyRevision, changed bool, err error) {
	if err := shipgate.ValidatePolicyName(name); err != nil {
		return nil, false, err
	}
	if err := shipgate.ValidateLine("filename", filename, 256); err != nil {
		return nil, false, err
	}
	if origin != shipgate.PolicySourceAPI && origin != shipgate.PolicySourceDir {
		return nil, false, fmt.Errorf("apply policy: unknown origin %q", origin)
	}
	sum := sha256.Sum256([]byte(source))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	cur, err := tx.FindPolicy(ctx, name, 0)
	next := 1
	switch {
	case shipgate.ErrorCode(err) == shipgate.ENOTFOUND:
		if _, err := tx.exec(ctx, `INSERT INTO policies (name, revision, digest, origin, updated_at) VALUES (?, 1, ?, ?, ?)`, name, digest, origin, micros(tx.now)); err != nil {
			return nil, false, err
		}
	case err != nil:
		return nil, false, err
	case cur.Origin == shipgate.PolicySourceDir && origin == shipgate.PolicySourceAPI:
		return nil, false, shipgate.Errorf(shipgate.ECONFLICT, "policy %q comes from the server's --policy-dir (%s): change it there; the directory wins over `policy apply`", name, cur.Filename)
	case cur.Digest == digest && cur.Origin == origin:
		return cur, false, nil
	default:
		next = cur.Revision + 1
		if _, err := tx.exec(ctx, `UPDATE policies SET revision = ?, digest = ?, origin = ?, updated_at = ? WHERE name = ?`, next, digest, origin, micros(tx.now), name); err != nil {
			return nil, false, err
		}
	}
	rev = &shipgate.PolicyRevision{Name: name, Revision: next, Digest: digest, Filename: filename, Source: source, Origin: origin, AppliedBy: actor, AppliedAt: tx.now}
	if _, err := tx.exec(ctx, `INSERT INTO policy_revisions (name, revision, digest, filename, source, origin, applied_by, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		name, next, digest, filename, source, origin, actor, micros(tx.now)); err != nil {
		return nil, false, err
	}
	details := map[string]any{"revision": next, "digest": digest, "filename": filename, "origin": origin}
	if cur != nil && cur.Origin != origin {
		details["replaced_origin"] = cur.Origin
	}
	return rev, true, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionPolicyApplied, shipgate.PolicySubject(name), details))
}

const policyRevisionColumns = `r.name, r.revision, r.digest, r.filename, r.source, r.origin, r.applied_by, r.applied_at`

func scanPolicyRevision(row interface{ Scan(...any) error }) (*shipgate.PolicyRevision, error) {
	p := &shipgate.PolicyRevision{}
	var at int64
	if err := row.Scan(&p.Name, &p.Revision, &p.Digest, &p.Filename, &p.Source, &p.Origin, &p.AppliedBy, &at); err != nil {
		return nil, err
	}
	p.AppliedAt = fromMicros(at)
	return p, nil
}

// FindPolicy returns revision rev of policy name with its source; rev 0
// is the current one.
func (tx *Tx) FindPolicy(ctx context.Context, name string, rev int) (*shipgate.PolicyRevision, error) {
	q := `SELECT ` + policyRevisionColumns + ` FROM policies p JOIN policy_revisions r ON r.name = p.name AND r.revision = p.revision WHERE p.name = ?`
	args := []any{name}
	if rev != 0 {
		q, args = `SELECT `+policyRevisionColumns+` FROM policy_revisions r WHERE r.name = ? AND r.revision = ?`, []any{name, rev}
	}
	p, err := scanPolicyRevision(tx.queryRow(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) && rev != 0 {
		if _, cerr := tx.FindPolicy(ctx, name, 0); cerr == nil {
			return nil, shipgate.Errorf(shipgate.ENOTFOUND, "policy %q has no revision %d", name, rev)
		}
	}
	if err != nil {
		return nil, notFound(err, "policy %q does not exist; apply it with `shipgate policy apply -f FILE`", name)
	}
	return p, nil
}

// ListPolicies returns the current revision of every policy, by name,
// without sources.
func (tx *Tx) ListPolicies(ctx context.Context) ([]shipgate.PolicyRevision, error) {
	rows, err := tx.query(ctx, `SELECT `+policyRevisionColumns+` FROM policies p JOIN policy_revisions r ON r.name = p.name AND r.revision = p.revision ORDER BY p.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.PolicyRevision{}
	for rows.Next() {
		p, err := scanPolicyRevision(rows)
		if err != nil {
			return nil, err
		}
		p.Source = ""
		out = append(out, *p)
	}
	return out, rows.Err()
}

// MissingPolicies returns the names in names that no policy has.
func (tx *Tx) MissingPolicies(ctx context.Context, names []string) ([]string, error) {
	var missing []string
	for _, n := range names {
		_, err := tx.FindPolicy(ctx, n, 0)
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			missing = append(missing, n)
		} else if err != nil {
			return nil, err
		}
	}
	return missing, nil
}

// PolicyBundle returns the current revisions of the named policies,
// sorted by name. A name with no policy is an error (failed_precondition):
// a gate that cannot be found must not let a release through.
func (tx *Tx) PolicyBundle(ctx context.Context, names []string) (shipgate.PolicyBundle, error) {
	b := shipgate.PolicyBundle{Modules: []shipgate.PolicyModule{}}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		p, err := tx.FindPolicy(ctx, n, 0)
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			return b, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "policy %q named by the environment does not exist (fail closed); apply it with `shipgate policy apply -f FILE`", n)
		} else if err != nil {
			return b, err
		}
		b.Modules = append(b.Modules, shipgate.PolicyModule{Name: p.Name, Revision: p.Revision, Filename: p.Filename, Source: p.Source})
	}
	sortModules(b.Modules)
	return b, nil
}

func sortModules(m []shipgate.PolicyModule) {
	for i := 1; i < len(m); i++ {
		for j := i; j > 0 && m[j].Name < m[j-1].Name; j-- {
			m[j], m[j-1] = m[j-1], m[j]
		}
	}
}

// PutPolicyBundle keeps a bundle's canonical JSON under its digest, once.
func (tx *Tx) PutPolicyBundle(ctx context.Context, digest string, content []byte) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM policy_bundles WHERE digest = ?`, digest).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := tx.exec(ctx, `INSERT INTO policy_bundles (digest, content, created_at) VALUES (?, ?, ?)`, digest, string(content), micros(tx.now))
	return err
}

// FindPolicyBundle returns the bundle kept under digest.
func (tx *Tx) FindPolicyBundle(ctx context.Context, digest string) (shipgate.PolicyBundle, []byte, error) {
	var content string
	var b shipgate.PolicyBundle
	if err := tx.queryRow(ctx, `SELECT content FROM policy_bundles WHERE digest = ?`, digest).Scan(&content); err != nil {
		return b, nil, notFound(err, "policy bundle %s is not kept", digest)
	}
	if err := json.Unmarshal([]byte(content), &b); err != nil {
		return b, nil, fmt.Errorf("decode policy bundle %s: %w", digest, err)
	}
	return b, []byte(content), nil
}

// RecordPolicyDecision keeps bundle (its canonical JSON) and d, sets d.ID
// and links the decision into the audit chain with a policy.decided event
// carrying its id and digests.
func (tx *Tx) RecordPolicyDecision(ctx context.Context, d *shipgate.PolicyDecision, bundle []byte) error {
	if err := tx.PutPolicyBundle(ctx, d.BundleDigest, bundle); err != nil {
		return err
	}
	policies, _ := json.Marshal(nonNil(d.Policies))
	deny, _ := json.Marshal(nonNil(d.Deny))
	warn, _ := json.Marshal(nonNil(d.Warn))
	var rel any
	if d.ReleaseID != 0 {
		rel = d.ReleaseID
	}
	if err := tx.queryRow(ctx, `INSERT INTO policy_decisions (point, release_id, service, environment, actor, policies, bundle_digest, input_digest, input, result, deny, warn, error, result_digest, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.Point, rel, d.Service, d.Environment, d.Actor, string(policies), d.BundleDigest, d.InputDigest, d.Input, d.Result, string(deny), string(warn), d.Error, d.ResultDigest, micros(d.At)).Scan(&d.ID); err != nil {
		return err
	}
	subject := shipgate.ServiceSubject(d.Service)
	if d.ReleaseID != 0 {
		subject = shipgate.ReleaseSubject(d.ReleaseID)
	}
	details := map[string]any{"decision": d.ID, "point": d.Point, "result": d.Result, "policies": nonNil(d.Policies),
		"bundle_digest": d.BundleDigest, "input_digest": d.InputDigest, "result_digest": d.ResultDigest,
		"environment": d.Environment}
	if len(d.Deny) > 0 {
		details["deny"] = d.Deny
	}
	if len(d.Warn) > 0 {
		details["warn"] = d.Warn
	}
	if d.Error != "" {
		details["error"] = d.Error
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(d.Actor, shipgate.ActionPolicyDecided, subject, details))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const decisionColumns = `id, point, release_id, service, environment, actor, policies, bundle_digest, input_digest, input, result, deny, warn, error, result_digest, at`

func scanDecision(row interface{ Scan(...any) error }) (*shipgate.PolicyDecision, error) {
	d := &shipgate.PolicyDecision{}
	var rel sql.NullInt64
	var policies, deny, warn string
	var at int64
	if err := row.Scan(&d.ID, &d.Point, &rel, &d.Service, &d.Environment, &d.Actor, &policies, &d.BundleDigest, &d.InputDigest, &d.Input, &d.Result, &deny, &warn, &d.Error, &d.ResultDigest, &at); err != nil {
		return nil, err
	}
	d.ReleaseID, d.At = rel.Int64, fromMicros(at)
	for _, f := range []struct {
		raw string
		to  *[]string
	}{{policies, &d.Policies}, {deny, &d.Deny}, {warn, &d.Warn}} {
		if err := json.Unmarshal([]byte(f.raw), f.to); err != nil {
			return nil, fmt.Errorf("decode decision %d: %w", d.ID, err)
		}
	}
	return d, nil
}

// FindPolicyDecision returns decision id with its input.
func (tx *Tx) FindPolicyDecision(ctx context.Context, id int64) (*shipgate.PolicyDecision, error) {
	d, err := scanDecision(tx.queryRow(ctx, `SELECT `+decisionColumns+` FROM policy_decisions WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "policy decision %d does not exist", id)
	}
	return d, nil
}

// ListPolicyDecisions returns decisions in id order, without their
// inputs (FindPolicyDecision has them).
func (tx *Tx) ListPolicyDecisions(ctx context.Context, f shipgate.PolicyDecisionFilter) ([]shipgate.PolicyDecision, error) {
	var where []string
	var args []any
	if f.ReleaseID != 0 {
		where, args = append(where, "release_id = ?"), append(args, f.ReleaseID)
	}
	if f.Point != "" {
		where, args = append(where, "point = ?"), append(args, f.Point)
	}
	if f.Result != "" {
		where, args = append(where, "result = ?"), append(args, f.Result)
	}
	if f.AfterID != 0 {
		where, args = append(where, "id > ?"), append(args, f.AfterID)
	}
	q := `SELECT ` + decisionColumns + ` FROM policy_decisions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.PolicyDecision{}
	for rows.Next() {
		d, err := scanDecision(rows)
		if err != nil {
			return nil, err
		}
		d.Input = ""
		out = append(out, *d)
	}
	return out, rows.Err()
}

// LastPolicyDecision returns the newest decision on release id at point,
// or nil.
func (tx *Tx) LastPolicyDecision(ctx context.Context, releaseID int64, point string) (*shipgate.PolicyDecision, error) {
	d, err := scanDecision(tx.queryRow(ctx, `SELECT `+decisionColumns+` FROM policy_decisions WHERE release_id = ? AND point = ? ORDER BY id DESC LIMIT 1`, releaseID, point))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

// recordRefused records the decision a refused transaction carried, in a
// transaction of its own: the refusal rolled back everything else, but
// the decision that refused it is on record (and its id in the message).
func (db *DB) recordRefused(ctx context.Context, err error) {
	var pd *shipgate.PolicyDeniedError
	if !errors.As(err, &pd) || pd.Decision == nil || pd.Decision.ID != 0 || pd.Bundle == nil {
		return
	}
	d := *pd.Decision
	ctx = context.WithoutCancel(ctx)
	if rerr := db.Update(ctx, func(tx *Tx) error { return tx.RecordPolicyDecision(ctx, &d, pd.Bundle) }); rerr == nil {
		pd.Decision.ID = d.ID
	}
}

// CheckPolicyDecision compares a stored decision with the policy.decided
// event that linked it into the audit chain: its point, result, messages
// and three digests must be those the event carries. The decision table
// is not append-only; the chain is (and checkpoints vouch for it), so a
// row rewritten in the database — an input swapped with a matching
// input digest, a result changed — is refused here rather than replayed
// as if it were the record.
func (tx *Tx) CheckPolicyDecision(ctx context.Context, d *shipgate.PolicyDecision) error {
	subject := shipgate.ServiceSubject(d.Service)
	if d.ReleaseID != 0 {
		subject = shipgate.ReleaseSubject(d.ReleaseID)
	}
	type recorded struct {
		Decision     int64    `json:"decision"`
		Point        string   `json:"point"`
		Result       string   `json:"result"`
		BundleDigest string   `json:"bundle_digest"`
		InputDigest  string   `json:"input_digest"`
		ResultDigest string   `json:"result_digest"`
		Deny         []string `json:"deny"`
		Warn         []string `json:"warn"`
		Error        string   `json:"error"`
	}
	var found *recorded
	since := d.At
	err := tx.EachAudit(ctx, shipgate.AuditFilter{Subject: subject, ActionPrefix: shipgate.ActionPolicyDecided, Since: &since}, func(e *shipgate.AuditEvent) error {
		var r recorded
		if err := json.Unmarshal(e.Details, &r); err != nil || r.Decision != d.ID {
			return nil
		}
		found = &r
		return errStopScan
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return err
	}
	if found == nil {
		return shipgate.Errorf(shipgate.EINTERNAL, "policy decision %d has no policy.decided audit event under %s: it is not the record", d.ID, subject)
	}
	same := func(a, b []string) bool {
		return strings.Join(nonNil(a), "\x00") == strings.Join(nonNil(b), "\x00") && len(nonNil(a)) == len(nonNil(b))
	}
	if found.Point != d.Point || found.Result != d.Result || found.BundleDigest != d.BundleDigest || found.InputDigest != d.InputDigest ||
		found.ResultDigest != d.ResultDigest || found.Error != d.Error || !same(found.Deny, d.Deny) || !same(found.Warn, d.Warn) {
		return shipgate.Errorf(shipgate.EINTERNAL, "policy decision %d does not match its policy.decided audit event (the event says %s at %s, input %s, result %s; the stored row says %s at %s, input %s, result %s): the row was changed after it was recorded",
			d.ID, found.Result, found.Point, found.InputDigest, found.ResultDigest, d.Result, d.Point, d.InputDigest, d.ResultDigest)
	}
	return nil
}

var errStopScan = errors.New("stop")

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shipgate/shipgate"
)

// ApplyService records spec as the service's new revision unless it equals
// the current one, in which case nothing changes and changed is false.
func (tx *Tx) ApplyService(ctx context.Context, actor string, spec *shipgate.ServiceSpec, filename, source string) (rev *shipgate.ServiceRevision, changed bool, err error) {
	if err := shipgate.ValidateLine("filename", filename, 256); err != nil {
		return nil, false, err
	}
	// A rollback to a fixed version must name one that exists: a policy
	// that can never fire is a trap found only during an incident.
	var problems []shipgate.FieldError
	for i, e := range spec.Environments {
		if e.Rollback.Mode != shipgate.RollbackVersion {
			continue
		}
		_, err := tx.AnyReleaseOfVersion(ctx, spec.Name, e.Rollback.Version)
		if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
			problems = append(problems, shipgate.FieldError{Path: fmt.Sprintf("spec.environments[%d].rollback.version", i),
				Message: fmt.Sprintf("rollback version %q of %s: service %q has never released that version, so there would be nothing to roll back to", e.Rollback.Version, e.Name, spec.Name)})
		} else if err != nil {
			return nil, false, err
		}
	}
	if problems != nil {
		return nil, false, &shipgate.ValidationError{Problems: problems}
	}
	digest := spec.Digest()
	cur, err := tx.FindService(ctx, spec.Name)
	switch {
	case shipgate.ErrorCode(err) == shipgate.ENOTFOUND:
		if _, err := tx.exec(ctx, `INSERT INTO services (name, revision, created_at, updated_at) VALUES (?, 1, ?, ?)`, spec.Name, micros(tx.now), micros(tx.now)); err != nil {
			return nil, false, err
		}
		rev = &shipgate.ServiceRevision{Revision: 1}
	case err != nil:
		return nil, false, err
	case cur.Digest == digest:
		r, err := tx.FindServiceRevision(ctx, spec.Name, cur.Revision)
		return r, false, err
	default:
		if _, err := tx.exec(ctx, `UPDATE services SET revision = ?, updated_at = ? WHERE name = ?`, cur.Revision+1, micros(tx.now), spec.Name); err != nil {
			return nil, false, err
		}
		rev = &shipgate.ServiceRevision{Revision: cur.Revision + 1}
	}
	rev.Service, rev.Digest, rev.Spec, rev.Filename, rev.Source, rev.AppliedBy, rev.AppliedAt = spec.Name, digest, *spec, filename, source, actor, tx.now
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, false, err
	}
	if _, err := tx.exec(ctx, `INSERT INTO service_revisions (service, revision, digest, spec, filename, source, applied_by, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		spec.Name, rev.Revision, digest, string(specJSON), filename, source, actor, micros(tx.now)); err != nil {
		return nil, false, err
	}
	if err := tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionServiceApplied, shipgate.ServiceSubject(spec.Name), map[string]any{
		"revision": rev.Revision, "digest": digest, "filename": filename,
	})); err != nil {
		return nil, false, err
	}
	return rev, true, tx.syncServiceFlags(ctx, actor, spec, rev.Revision)
}

// FindService returns a service with its current spec.
func (tx *Tx) FindService(ctx context.Context, name string) (*shipgate.Service, error) {
	s := &shipgate.Service{Name: name}
	var created, updated int64
	var spec string
	err := tx.queryRow(ctx, `SELECT s.revision, s.created_at, s.updated_at, r.digest, r.spec
		FROM services s JOIN service_revisions r ON r.service = s.name AND r.revision = s.revision
		WHERE s.name = ?`, name).Scan(&s.Revision, &created, &updated, &s.Digest, &spec)
	if errors.Is(err, sql.ErrNoRows) {
		if known, lerr := tx.serviceNames(ctx); lerr == nil {
			if guess := shipgate.Closest(name, known); guess != "" {
				return nil, shipgate.Errorf(shipgate.ENOTFOUND, "service %q does not exist; did you mean %q?", name, guess)
			}
		}
	}
	if err != nil {
		return nil, notFound(err, "service %q does not exist; apply its service file first", name)
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := json.Unmarshal([]byte(spec), &s.Spec); err != nil {
		return nil, fmt.Errorf("decode spec of service %s: %w", name, err)
	}
	return s, nil
}

// ListServices returns every service with its current spec, by name.
func (tx *Tx) ListServices(ctx context.Context) ([]*shipgate.Service, error) {
	names, err := tx.serviceNames(ctx)
	if err != nil {
		return nil, err
	}
	out := []*shipgate.Service{}
	for _, n := range names {
		s, err := tx.FindService(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// FindServiceRevision returns one revision including its source file.
func (tx *Tx) FindServiceRevision(ctx context.Context, name string, revision int) (*shipgate.ServiceRevision, error) {
	r := &shipgate.ServiceRevision{Service: name, Revision: revision}
	var spec string
	var at int64
	err := tx.queryRow(ctx, `SELECT digest, spec, filename, source, applied_by, applied_at FROM service_revisions WHERE service = ? AND revision = ?`,
		name, revision).Scan(&r.Digest, &spec, &r.Filename, &r.Source, &r.AppliedBy, &at)
	if err != nil {
		return nil, notFound(err, "service %q has no revision %d", name, revision)
	}
	r.AppliedAt = fromMicros(at)
	return r, json.Unmarshal([]byte(spec), &r.Spec)
}

// ListServiceRevisions returns the history of a service, newest first,
// without sources.
func (tx *Tx) ListServiceRevisions(ctx context.Context, name string) ([]shipgate.ServiceRevision, error) {
	if _, err := tx.FindService(ctx, name); err != nil {
		return nil, err
	}
	rows, err := tx.query(ctx, `SELECT revision, digest, filename, applied_by, applied_at FROM service_revisions WHERE service = ? ORDER BY revision DESC`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shipgate.ServiceRevision
	for rows.Next() {
		r := shipgate.ServiceRevision{Service: name}
		var at int64
		if err := rows.Scan(&r.Revision, &r.Digest, &r.Filename, &r.AppliedBy, &at); err != nil {
			return nil, err
		}
		r.AppliedAt = fromMicros(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// serviceNames lists the names of every service, in order.
func (tx *Tx) serviceNames(ctx context.Context) ([]string, error) {
	return scanStrings(tx.query(ctx, `SELECT name FROM services ORDER BY name`))
}

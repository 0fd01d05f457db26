package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/shipgate/shipgate"
)

const freezeColumns = `id, service, environment, from_at, to_at, reason, created_by, created_at, ended_at, ended_by`

func scanFreeze(sc interface{ Scan(...any) error }) (shipgate.Freeze, error) {
	var f shipgate.Freeze
	var from, to, created int64
	var ended sql.NullInt64
	err := sc.Scan(&f.ID, &f.Service, &f.Environment, &from, &to, &f.Reason, &f.CreatedBy, &created, &ended, &f.EndedBy)
	f.From, f.To, f.CreatedAt, f.EndedAt = fromMicros(from), fromMicros(to), fromMicros(created), fromNullMicros(ended)
	return f, err
}

// CreateFreeze validates and records a freeze (f.ID, f.CreatedAt are
// set), audited. A freeze naming a service that does not exist, or an
// environment no service has, is refused: it would hold nothing.
func (tx *Tx) CreateFreeze(ctx context.Context, f *shipgate.Freeze) error {
	if err := f.Validate(tx.now); err != nil {
		return err
	}
	if f.Service != "" || f.Environment != "" {
		services, err := tx.ListServices(ctx)
		if err != nil {
			return err
		}
		found, serviceFound := false, false
		for _, s := range services {
			if f.Service != "" && s.Name != f.Service {
				continue
			}
			serviceFound = true
			if f.Service != "" && f.Environment == "" {
				found = true
			}
			if _, ok := s.Spec.Environment(f.Environment); ok {
				found = true
			}
		}
		switch {
		case f.Service != "" && !serviceFound:
			return shipgate.Errorf(shipgate.ENOTFOUND, "service %q does not exist: the freeze would hold nothing", f.Service)
		case f.Service != "" && !found:
			return shipgate.Errorf(shipgate.ENOTFOUND, "service %q has no environment %q: the freeze would hold nothing", f.Service, f.Environment)
		}
		if !found {
			return shipgate.Errorf(shipgate.ENOTFOUND, "no service has %s: the freeze would hold nothing", f.Scope())
		}
	}
	f.CreatedAt = tx.now
	if err := tx.queryRow(ctx, `INSERT INTO freezes (service, environment, from_at, to_at, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		f.Service, f.Environment, micros(f.From), micros(f.To), f.Reason, f.CreatedBy, micros(f.CreatedAt)).Scan(&f.ID); err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(f.CreatedBy, shipgate.ActionFreezeCreated, shipgate.FreezeSubject(f.ID), map[string]any{
		"service": f.Service, "environment": f.Environment, "scope": f.Scope(), "reason": f.Reason,
		"from": f.From.UTC().Format(timeFormat), "to": f.To.UTC().Format(timeFormat),
	}))
}

const timeFormat = "2006-01-02T15:04:05.999999Z07:00"

// FindFreeze returns one freeze.
func (tx *Tx) FindFreeze(ctx context.Context, id int64) (*shipgate.Freeze, error) {
	f, err := scanFreeze(tx.queryRow(ctx, `SELECT `+freezeColumns+` FROM freezes WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, shipgate.Errorf(shipgate.ENOTFOUND, "freeze %d not found", id)
	}
	return &f, err
}

// ListFreezes lists freezes, newest first: with all, also those ended or
// over; else the current and future ones.
func (tx *Tx) ListFreezes(ctx context.Context, all bool) ([]shipgate.Freeze, error) {
	q := `SELECT ` + freezeColumns + ` FROM freezes`
	var args []any
	if !all {
		q += ` WHERE ended_at IS NULL AND to_at > ?`
		args = append(args, micros(tx.now))
	}
	rows, err := tx.query(ctx, q+` ORDER BY id DESC LIMIT 500`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.Freeze{}
	for rows.Next() {
		f, err := scanFreeze(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// FreezesFor returns the freezes not ended nor over that may hold releases
// of service to env, now or later: what the decider observes.
// Every one of them, not a page (ListFreezes shows the newest 500): a
// freeze in force must hold however many were scheduled after it.
func (tx *Tx) FreezesFor(ctx context.Context, service, env string) ([]shipgate.Freeze, error) {
	rows, err := tx.query(ctx, `SELECT `+freezeColumns+` FROM freezes WHERE ended_at IS NULL AND to_at > ?
		AND (service = '' OR service = ?) AND (environment = '' OR environment = ?) ORDER BY id DESC`, micros(tx.now), service, env)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.Freeze{}
	for rows.Next() {
		f, err := scanFreeze(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// EndFreeze ends a freeze now, audited; the releases it held start at
// their next look.
func (tx *Tx) EndFreeze(ctx context.Context, id int64, actor string) (*shipgate.Freeze, error) {
	f, err := tx.FindFreeze(ctx, id)
	if err != nil {
		return nil, err
	}
	if f.EndedAt != nil {
		return nil, shipgate.Errorf(shipgate.ECONFLICT, "freeze %d was already ended by %s", id, f.EndedBy)
	}
	if !f.To.After(tx.now) {
		return nil, shipgate.Errorf(shipgate.ECONFLICT, "freeze %d is already over (it ran to %s)", id, f.To.UTC().Format(timeFormat))
	}
	now := tx.now
	if _, err := tx.exec(ctx, `UPDATE freezes SET ended_at = ?, ended_by = ? WHERE id = ?`, micros(now), actor, id); err != nil {
		return nil, err
	}
	f.EndedAt, f.EndedBy = &now, actor
	return f, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionFreezeEnded, shipgate.FreezeSubject(id), map[string]any{
		"scope": f.Scope(), "reason": f.Reason, "to": f.To.UTC().Format(timeFormat),
	}))
}

// FindFreezeOverride returns the freeze override of a release, or nil.
func (tx *Tx) FindFreezeOverride(ctx context.Context, releaseID int64) (*shipgate.FreezeOverride, error) {
	o := shipgate.FreezeOverride{ReleaseID: releaseID}
	var req int64
	var appr sql.NullInt64
	err := tx.queryRow(ctx, `SELECT reason, requested_by, requested_at, approved_by, approved_at FROM freeze_overrides WHERE release_id = ?`, releaseID).
		Scan(&o.Reason, &o.RequestedBy, &req, &o.ApprovedBy, &appr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o.RequestedAt, o.ApprovedAt = fromMicros(req), fromNullMicros(appr)
	return &o, nil
}

// RequestFreezeOverride records a request to let a release start through
// the freezes, audited. One per release; the release must not have
// started.
func (tx *Tx) RequestFreezeOverride(ctx context.Context, releaseID int64, actor, reason string) (*shipgate.FreezeOverride, error) {
	if err := shipgate.ValidateLine("reason", reason, shipgate.MaxFreezeReasonLen); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, shipgate.Errorf(shipgate.EINVALID, "an override needs a reason (--reason)")
	}
	r, err := tx.FindRelease(ctx, releaseID)
	if err != nil {
		return nil, err
	}
	if r.State != shipgate.StatePendingApproval && r.State != shipgate.StateQueued {
		return nil, shipgate.Errorf(shipgate.ECONFLICT, "release %d is %s: only a release that has not started needs an override", r.ID, r.State)
	}
	// An override answers a freeze: one asked for when no freeze in force
	// or scheduled covers the release would, once granted, let it through
	// freezes nobody has thought of yet.
	if fs, err := tx.FreezesFor(ctx, r.Service, r.Environment); err != nil {
		return nil, err
	} else if len(fs) == 0 {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "no freeze in force or scheduled covers %s in %s: release %d has nothing to override", r.Service, r.Environment, r.ID)
	}
	if o, err := tx.FindFreezeOverride(ctx, releaseID); err != nil {
		return nil, err
	} else if o != nil {
		return nil, shipgate.Errorf(shipgate.ECONFLICT, "release %d already has an override requested by %s", r.ID, o.RequestedBy)
	}
	o := &shipgate.FreezeOverride{ReleaseID: releaseID, Reason: reason, RequestedBy: actor, RequestedAt: tx.now}
	if _, err := tx.exec(ctx, `INSERT INTO freeze_overrides (release_id, reason, requested_by, requested_at) VALUES (?, ?, ?, ?)`,
		releaseID, reason, actor, micros(o.RequestedAt)); err != nil {
		return nil, err
	}
	return o, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionFreezeOverrideRequested, shipgate.ReleaseSubject(releaseID), map[string]any{"reason": reason}))
}

// ApproveFreezeOverride grants a release's requested override. Only an
// enabled member of group (the server's override group) who did not
// request it may; audited.
func (tx *Tx) ApproveFreezeOverride(ctx context.Context, releaseID int64, actor, group string) (*shipgate.FreezeOverride, error) {
	if group == "" {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "this server has no override group: set freezes.override_group in the server config")
	}
	o, err := tx.FindFreezeOverride(ctx, releaseID)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, shipgate.Errorf(shipgate.ENOTFOUND, "release %d has no override request (`shipgate freeze override %d --reason R` asks for one)", releaseID, releaseID)
	}
	if o.Granted() {
		return nil, shipgate.Errorf(shipgate.ECONFLICT, "the override of release %d was already approved by %s", releaseID, o.ApprovedBy)
	}
	if actor == o.RequestedBy {
		return nil, shipgate.Errorf(shipgate.EFORBIDDEN, "%s requested this override and cannot approve it; another member of %s must", actor, group)
	}
	u, err := tx.FindUser(ctx, actor)
	if err != nil {
		return nil, err
	}
	if u.Disabled() || !slices.Contains(u.Groups, group) {
		return nil, shipgate.Errorf(shipgate.EFORBIDDEN, "only a member of %s may approve a freeze override; %s is not one", group, actor)
	}
	now := tx.now
	if _, err := tx.exec(ctx, `UPDATE freeze_overrides SET approved_by = ?, approved_at = ? WHERE release_id = ?`, actor, micros(now), releaseID); err != nil {
		return nil, err
	}
	o.ApprovedBy, o.ApprovedAt = actor, &now
	return o, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionFreezeOverrideApproved, shipgate.ReleaseSubject(releaseID), map[string]any{
		"reason": o.Reason, "requested_by": o.RequestedBy, "group": group,
	}))
}

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shipgate/shipgate"
)

// Feature flags (issue 15): the live definition of each flag of a service
// in an environment, and the record of every change. This file holds the
// reads, the one writer every applied change goes through (applyFlagChange)
// and the sync from a service file; flag_govern.go holds the governed
// changes (approvals, kill, mitigations).

const flagColumns = `service, environment, key, definition, version, declared, updated_by, updated_at`

func scanFlagState(sc interface{ Scan(...any) error }) (shipgate.FlagState, string, error) {
	var (
		s        shipgate.FlagState
		def      string
		declared int
		at       int64
	)
	if err := sc.Scan(&s.Service, &s.Environment, &s.Flag.Key, &def, &s.Version, &declared, &s.UpdatedBy, &at); err != nil {
		return s, "", err
	}
	if err := json.Unmarshal([]byte(def), &s.Flag); err != nil {
		return s, "", fmt.Errorf("flag %s/%s/%s: stored definition: %w", s.Service, s.Environment, s.Flag.Key, err)
	}
	s.Declared, s.UpdatedAt = declared != 0, fromMicros(at)
	return s, def, nil
}

// ListFlags lists the live flags, ordered by environment, service and key;
// an empty service or env means every one.
func (tx *Tx) ListFlags(ctx context.Context, service, env string) ([]shipgate.FlagState, error) {
	rows, err := tx.queryRows(ctx, `SELECT `+flagColumns+` FROM flags WHERE (? = '' OR service = ?) AND (? = '' OR environment = ?) ORDER BY environment, service, key`,
		service, service, env, env)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.FlagState{}
	for rows.Next() {
		s, _, err := scanFlagState(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// FindFlag returns the live state of one flag.
func (tx *Tx) FindFlag(ctx context.Context, service, env, key string) (*shipgate.FlagState, error) {
	s, _, err := scanFlagState(tx.queryRow(ctx, `SELECT `+flagColumns+` FROM flags WHERE service = ? AND environment = ? AND key = ?`, service, env, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, shipgate.Errorf(shipgate.ENOTFOUND, "service %s has no flag %q in environment %s", service, key, env)
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// FlagGeneration is a number that changes with every change of a flag of
// env (0 before the first): evaluators cache compiled flags and reload
// when it moves, so every server sees a change at once.
func (tx *Tx) FlagGeneration(ctx context.Context, env string) (int64, error) {
	var g int64
	err := tx.queryRow(ctx, `SELECT generation FROM flag_generations WHERE environment = ?`, env).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return g, err
}

// EnvFlags returns every live flag of env with the generation they are at.
func (tx *Tx) EnvFlags(ctx context.Context, env string) ([]shipgate.FlagState, int64, error) {
	g, err := tx.FlagGeneration(ctx, env)
	if err != nil {
		return nil, 0, err
	}
	fs, err := tx.ListFlags(ctx, "", env)
	return fs, g, err
}

func (tx *Tx) bumpFlagGeneration(ctx context.Context, env string) error {
	tx.AfterCommit(tx.db.flagsChanged)
	tx.AfterCommit(func() { tx.db.flagEpoch.Add(1) })
	res, err := tx.exec(ctx, `UPDATE flag_generations SET generation = generation + 1 WHERE environment = ?`, env)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err = tx.exec(ctx, `INSERT INTO flag_generations (environment, generation) VALUES (?, 1)`, env)
	}
	return err
}

func flagJSON(f *shipgate.Flag) (any, error) {
	if f == nil {
		return nil, nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func flagDigest(f *shipgate.Flag) string {
	b, err := shipgate.CanonicalJSON(f)
	if err != nil {
		return ""
	}
	return shipgate.SHA256Hex(b)
}

// flagAuditAction is the audit action of an applied change: a kill and a
// mitigation are their own actions, so an incident's flips stand out.
func flagAuditAction(op shipgate.FlagChangeOp) string {
	switch op {
	case shipgate.FlagOpKill:
		return shipgate.ActionFlagKilled
	case shipgate.FlagOpMitigation:
		return shipgate.ActionFlagMitigated
	}
	return shipgate.ActionFlagChanged
}

// applyFlagChange makes c (its Before, After, Op, Reason, RequestedBy set)
// the flag's live state: it writes the flag (After nil removes it), bumps
// the environment's generation, records the change as applied unless it
// has an ID already (an approved pending change), and audits it with its
// before and after. A change by the service file (op file) marks the flag
// declared with fileDigest, the digest of its declaration; other changes
// leave both as they are. The update refuses a flag no longer at
// c.BaseVersion (ECONFLICT).
func (tx *Tx) applyFlagChange(ctx context.Context, c *shipgate.FlagChange, fileDigest string) error {
	if c.After != nil {
		if problems := c.After.Validate("flag"); len(problems) > 0 {
			return &shipgate.ValidationError{Problems: problems}
		}
	}
	after, err := flagJSON(c.After)
	if err != nil {
		return err
	}
	before, err := flagJSON(c.Before)
	if err != nil {
		return err
	}
	decl := 0
	if c.Op == shipgate.FlagOpFile {
		decl = 1
	}
	switch {
	case c.After == nil:
		_, err = tx.exec(ctx, `DELETE FROM flags WHERE service = ? AND environment = ? AND key = ?`, c.Service, c.Environment, c.Key)
	case c.Before == nil:
		_, err = tx.exec(ctx, `INSERT INTO flags (service, environment, key, definition, version, declared, file_digest, updated_by, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)`,
			c.Service, c.Environment, c.Key, after, decl, fileDigest, c.RequestedBy, micros(tx.now))
	default:
		var res sql.Result
		if c.Op == shipgate.FlagOpFile {
			res, err = tx.exec(ctx, `UPDATE flags SET definition = ?, version = version + 1, declared = 1, file_digest = ?, updated_by = ?, updated_at = ? WHERE service = ? AND environment = ? AND key = ? AND version = ?`,
				after, fileDigest, c.RequestedBy, micros(tx.now), c.Service, c.Environment, c.Key, c.BaseVersion)
		} else {
			res, err = tx.exec(ctx, `UPDATE flags SET definition = ?, version = version + 1, updated_by = ?, updated_at = ? WHERE service = ? AND environment = ? AND key = ? AND version = ?`,
				after, c.RequestedBy, micros(tx.now), c.Service, c.Environment, c.Key, c.BaseVersion)
		}
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				return shipgate.Errorf(shipgate.ECONFLICT, "flag %q of %s in %s changed meanwhile; look again and retry", c.Key, c.Service, c.Environment)
			}
		}
	}
	if err != nil {
		return err
	}
	if err := tx.bumpFlagGeneration(ctx, c.Environment); err != nil {
		return err
	}
	c.State = shipgate.FlagChangeApplied
	if c.ID == 0 {
		c.RequestedAt = tx.now
		if err := tx.queryRow(ctx, `INSERT INTO flag_changes (service, environment, key, op, state, reason, before_def, after_def, base_version, release_id, requested_by, requested_at, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			c.Service, c.Environment, c.Key, string(c.Op), string(c.State), c.Reason, before, after, c.BaseVersion, c.ReleaseID, c.RequestedBy, micros(tx.now), micros(tx.now)).Scan(&c.ID); err != nil {
			return err
		}
	} else if _, err := tx.exec(ctx, `UPDATE flag_changes SET state = ?, decided_by = ?, decided_at = ? WHERE id = ?`,
		string(c.State), c.DecidedBy, micros(tx.now), c.ID); err != nil {
		return err
	}
	now := tx.now
	c.DecidedAt = &now
	data := map[string]any{
		"service": c.Service, "environment": c.Environment, "key": c.Key, "op": string(c.Op),
		"reason": c.Reason, "change": c.ID, "before": c.Before, "after": c.After,
	}
	if c.ReleaseID != 0 {
		data["release"] = c.ReleaseID
	}
	if len(c.Approvals) > 0 {
		names := make([]string, len(c.Approvals))
		for i, a := range c.Approvals {
			names[i] = a.Approver
		}
		data["approved_by"] = names
	}
	if c.Op == shipgate.FlagOpKill || c.Op == shipgate.FlagOpMitigation {
		data["severity"] = "incident"
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(c.RequestedBy, flagAuditAction(c.Op), shipgate.FlagSubject(c.Service, c.Environment, c.Key), data))
}

// syncServiceFlags makes the live flags follow a newly applied service
// file: a flag the file adds is created; one whose declaration changed
// takes the new declaration; one the file no longer declares is removed;
// a declaration that did not change leaves the live flag as people left
// it (rollouts, rules). A disabled flag (killed or mitigated) stays
// disabled whatever the file says, so applying a file during an incident
// never turns a killed flag back on; "flag enable" does. Each change is
// recorded and audited in the applier's name.
func (tx *Tx) syncServiceFlags(ctx context.Context, actor string, spec *shipgate.ServiceSpec, revision int) error {
	type live struct {
		state  shipgate.FlagState
		digest string
	}
	rows, err := tx.queryRows(ctx, `SELECT `+flagColumns+`, file_digest FROM flags WHERE service = ?`, spec.Name)
	if err != nil {
		return err
	}
	have := map[[2]string]live{}
	var order [][2]string
	for rows.Next() {
		var (
			l        live
			def      string
			declared int
			at       int64
		)
		if err := rows.Scan(&l.state.Service, &l.state.Environment, &l.state.Flag.Key, &def, &l.state.Version, &declared, &l.state.UpdatedBy, &at, &l.digest); err != nil {
			rows.Close()
			return err
		}
		if err := json.Unmarshal([]byte(def), &l.state.Flag); err != nil {
			rows.Close()
			return fmt.Errorf("flag %s/%s/%s: stored definition: %w", l.state.Service, l.state.Environment, l.state.Flag.Key, err)
		}
		l.state.Declared = declared != 0
		k := [2]string{l.state.Environment, l.state.Flag.Key}
		have[k] = l
		order = append(order, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	reason := fmt.Sprintf("service file revision %d", revision)
	wanted := map[[2]string]bool{}
	for i := range spec.Environments {
		e := &spec.Environments[i]
		for _, f := range spec.EffectiveFlags(e) {
			f := f
			k := [2]string{e.Name, f.Key}
			wanted[k] = true
			digest := flagDigest(&f)
			l, ok := have[k]
			if ok && l.state.Declared && l.digest == digest {
				continue // unchanged declaration: the live flag stays as people left it
			}
			c := &shipgate.FlagChange{Service: spec.Name, Environment: e.Name, Key: f.Key, Op: shipgate.FlagOpFile,
				Reason: reason, RequestedBy: actor, After: &f}
			if ok {
				before := l.state.Flag
				c.Before, c.BaseVersion = &before, l.state.Version
				keepKilled(&before, &f)
			} else {
				// A flag a file removed while it was killed comes back
				// killed: a revert and a re-apply never undo a kill.
				gone, err := tx.removedKilledFlag(ctx, spec.Name, e.Name, f.Key)
				if err != nil {
					return err
				}
				keepKilled(gone, &f)
			}
			if err := tx.applyFlagChange(ctx, c, digest); err != nil {
				return err
			}
		}
	}
	for _, k := range order {
		l := have[k]
		if wanted[k] || !l.state.Declared {
			continue
		}
		before := l.state.Flag
		c := &shipgate.FlagChange{Service: spec.Name, Environment: k[0], Key: k[1], Op: shipgate.FlagOpRemove,
			Reason: reason + " no longer declares it", RequestedBy: actor, Before: &before, BaseVersion: l.state.Version}
		if err := tx.applyFlagChange(ctx, c, ""); err != nil {
			return err
		}
	}
	return nil
}

// keepKilled keeps a new declaration after of a flag that was disabled
// (before) disabled, serving what it served while after still has that
// variant: only "flag enable" turns a killed flag back on, and a new
// safe_variant in a file does not change what a killed flag serves.
func keepKilled(before, after *shipgate.Flag) {
	if before == nil || !before.Disabled || after.Disabled {
		return
	}
	after.Disabled, after.Serve = true, ""
	if served := before.Served(); served != after.SafeVariant {
		if _, still := after.Variants[served]; still {
			after.Serve = served
		}
	}
}

// removedKilledFlag returns the definition a flag had when a service file
// last removed it, if it was disabled then and nothing recreated it since;
// nil otherwise.
func (tx *Tx) removedKilledFlag(ctx context.Context, service, env, key string) (*shipgate.Flag, error) {
	var op string
	var before sql.NullString
	err := tx.queryRow(ctx, `SELECT op, before_def FROM flag_changes WHERE service = ? AND environment = ? AND key = ? AND state = ? ORDER BY id DESC LIMIT 1`,
		service, env, key, string(shipgate.FlagChangeApplied)).Scan(&op, &before)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil || shipgate.FlagChangeOp(op) != shipgate.FlagOpRemove || !before.Valid {
		return nil, err
	}
	var f shipgate.Flag
	if err := json.Unmarshal([]byte(before.String), &f); err != nil {
		return nil, fmt.Errorf("flag %s/%s/%s: removed definition: %w", service, env, key, err)
	}
	if !f.Disabled {
		return nil, nil
	}
	return &f, nil
}

const flagChangeColumns = `id, service, environment, key, op, state, reason, before_def, after_def, base_version, release_id, requested_by, requested_at, decided_by, decided_at`

func scanFlagChange(sc interface{ Scan(...any) error }) (shipgate.FlagChange, error) {
	var (
		c             shipgate.FlagChange
		op, state     string
		before, after sql.NullString
		at            int64
		decided       sql.NullInt64
	)
	if err := sc.Scan(&c.ID, &c.Service, &c.Environment, &c.Key, &op, &state, &c.Reason, &before, &after, &c.BaseVersion, &c.ReleaseID, &c.RequestedBy, &at, &c.DecidedBy, &decided); err != nil {
		return c, err
	}
	c.Op, c.State, c.RequestedAt, c.DecidedAt = shipgate.FlagChangeOp(op), shipgate.FlagChangeState(state), fromMicros(at), fromNullMicros(decided)
	for _, p := range []struct {
		s   sql.NullString
		dst **shipgate.Flag
	}{{before, &c.Before}, {after, &c.After}} {
		if !p.s.Valid {
			continue
		}
		var f shipgate.Flag
		if err := json.Unmarshal([]byte(p.s.String), &f); err != nil {
			return c, fmt.Errorf("flag change %d: stored definition: %w", c.ID, err)
		}
		*p.dst = &f
	}
	return c, nil
}

// FlagChangeFilter selects flag changes; zero fields match everything.
type FlagChangeFilter struct {
	Service, Environment, Key string
	State                     shipgate.FlagChangeState
	ReleaseID                 int64
	Limit                     int // 100 when 0, at most 1000
}

// ListFlagChanges lists flag changes, newest first, with their approvals.
func (tx *Tx) ListFlagChanges(ctx context.Context, f FlagChangeFilter) ([]shipgate.FlagChange, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 1000 {
		f.Limit = 1000
	}
	rows, err := tx.query(ctx, `SELECT `+flagChangeColumns+` FROM flag_changes
		WHERE (? = '' OR service = ?) AND (? = '' OR environment = ?) AND (? = '' OR key = ?) AND (? = '' OR state = ?) AND (? = 0 OR release_id = ?)
		ORDER BY id DESC LIMIT ?`,
		f.Service, f.Service, f.Environment, f.Environment, f.Key, f.Key, string(f.State), string(f.State), f.ReleaseID, f.ReleaseID, f.Limit)
	if err != nil {
		return nil, err
	}
	out := []shipgate.FlagChange{}
	for rows.Next() {
		c, err := scanFlagChange(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Approvals, err = tx.flagChangeApprovals(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FindFlagChange returns one flag change with its approvals.
func (tx *Tx) FindFlagChange(ctx context.Context, id int64) (*shipgate.FlagChange, error) {
	c, err := scanFlagChange(tx.queryRow(ctx, `SELECT `+flagChangeColumns+` FROM flag_changes WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, shipgate.Errorf(shipgate.ENOTFOUND, "flag change %d does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	if c.Approvals, err = tx.flagChangeApprovals(ctx, id); err != nil {
		return nil, err
	}
	return &c, nil
}

func (tx *Tx) flagChangeApprovals(ctx context.Context, id int64) ([]shipgate.FlagChangeApproval, error) {
	rows, err := tx.query(ctx, `SELECT approver, comment, at FROM flag_change_approvals WHERE change_id = ? ORDER BY at, approver`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shipgate.FlagChangeApproval
	for rows.Next() {
		var a shipgate.FlagChangeApproval
		var at int64
		if err := rows.Scan(&a.Approver, &a.Comment, &at); err != nil {
			return nil, err
		}
		a.At = fromMicros(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

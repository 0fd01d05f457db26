package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/shipgate/shipgate"
)

// SDK keys (issue 15): the read-only keys OpenFeature SDKs present to the
// OFREP endpoints, one environment each. Only a key's SHA-256 is kept;
// the secret is shown once, when it is made.

const sdkKeyColumns = `id, environment, name, prefix, created_by, created_at, revoked_by, revoked_at, last_used_at`

func scanSDKKey(sc interface{ Scan(...any) error }) (shipgate.SDKKey, error) {
	var (
		k                 shipgate.SDKKey
		created           int64
		revoked, lastUsed sql.NullInt64
	)
	err := sc.Scan(&k.ID, &k.Environment, &k.Name, &k.Prefix, &k.CreatedBy, &created, &k.RevokedBy, &revoked, &lastUsed)
	k.CreatedAt, k.RevokedAt, k.LastUsedAt = fromMicros(created), fromNullMicros(revoked), fromNullMicros(lastUsed)
	return k, err
}

// environmentDeclared says whether some service declares env.
func (tx *Tx) environmentDeclared(ctx context.Context, env string) ([]string, bool, error) {
	services, err := tx.ListServices(ctx)
	if err != nil {
		return nil, false, err
	}
	var all []string
	for _, s := range services {
		for _, e := range s.Spec.Environments {
			if e.Name == env {
				return nil, true, nil
			}
			if !slices.Contains(all, e.Name) {
				all = append(all, e.Name)
			}
		}
	}
	slices.Sort(all)
	return all, false, nil
}

// CreateSDKKey records a key for env whose secret is secret
// (shipgate.NewSDKKeySecret), audited as sdk_key.created. env must be an
// environment some service declares.
func (tx *Tx) CreateSDKKey(ctx context.Context, actor, env, name, secret string) (*shipgate.SDKKey, error) {
	if name == "" {
		name = env
	}
	if err := shipgate.ValidateSDKKey(env, name); err != nil {
		return nil, err
	}
	all, ok, err := tx.environmentDeclared(ctx, env)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, shipgate.Errorf(shipgate.EINVALID, "no service declares environment %q (declared: %v)", env, all)
	}
	k := &shipgate.SDKKey{Environment: env, Name: name, Prefix: shipgate.SDKKeyDisplayPrefix(secret), CreatedBy: actor, CreatedAt: tx.now}
	if err := tx.queryRow(ctx, `INSERT INTO sdk_keys (environment, name, prefix, hash, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		env, name, k.Prefix, shipgate.HashToken(secret), actor, micros(tx.now)).Scan(&k.ID); err != nil {
		return nil, err
	}
	tx.AfterCommit(func() { tx.db.sdkKeyEpoch.Add(1) })
	return k, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionSDKKeyCreated, shipgate.SDKKeySubject(k.ID),
		map[string]any{"environment": env, "name": name, "prefix": k.Prefix}))
}

// ListSDKKeys lists the SDK keys, revoked ones too, by id; an empty env
// means every environment.
func (tx *Tx) ListSDKKeys(ctx context.Context, env string) ([]shipgate.SDKKey, error) {
	rows, err := tx.query(ctx, `SELECT `+sdkKeyColumns+` FROM sdk_keys WHERE (? = '' OR environment = ?) ORDER BY id`, env, env)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.SDKKey{}
	for rows.Next() {
		k, err := scanSDKKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// FindSDKKey returns one SDK key.
func (tx *Tx) FindSDKKey(ctx context.Context, id int64) (*shipgate.SDKKey, error) {
	k, err := scanSDKKey(tx.queryRow(ctx, `SELECT `+sdkKeyColumns+` FROM sdk_keys WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "SDK key %d does not exist", id)
	}
	return &k, nil
}

// RevokeSDKKey revokes a key for good, audited as sdk_key.revoked with the
// reason. Revoking a revoked key is a conflict: it says when and by whom.
func (tx *Tx) RevokeSDKKey(ctx context.Context, actor string, id int64, reason string) (*shipgate.SDKKey, error) {
	if err := shipgate.ValidateLine("reason", reason, shipgate.MaxFlagReasonLen); err != nil {
		return nil, err
	}
	k, err := tx.FindSDKKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return nil, shipgate.Errorf(shipgate.ECONFLICT, "SDK key %d was revoked by %s at %s", id, k.RevokedBy, k.RevokedAt.Format(time.RFC3339))
	}
	if _, err := tx.exec(ctx, `UPDATE sdk_keys SET revoked_by = ?, revoked_at = ? WHERE id = ?`, actor, micros(tx.now), id); err != nil {
		return nil, err
	}
	now := tx.now
	k.RevokedBy, k.RevokedAt = actor, &now
	tx.AfterCommit(func() { tx.db.sdkKeyEpoch.Add(1) })
	return k, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionSDKKeyRevoked, shipgate.SDKKeySubject(id),
		map[string]any{"environment": k.Environment, "name": k.Name, "prefix": k.Prefix, "reason": reason}))
}

// SDKKeyHash is what authenticating an SDK key needs of a live key.
type SDKKeyHash struct {
	ID          int64
	Environment string
	Prefix      string
	Hash        string // hex SHA-256 of the secret
}

// ActiveSDKKeys lists the keys that are not revoked, with their hashes.
func (tx *Tx) ActiveSDKKeys(ctx context.Context) ([]SDKKeyHash, error) {
	rows, err := tx.query(ctx, `SELECT id, environment, prefix, hash FROM sdk_keys WHERE revoked_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SDKKeyHash
	for rows.Next() {
		var k SDKKeyHash
		if err := rows.Scan(&k.ID, &k.Environment, &k.Prefix, &k.Hash); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// TouchSDKKey records that a key was used at. It is bookkeeping, not a
// change of anything a person decided, so it is not audited; callers
// write it at most once a minute per key.
func (tx *Tx) TouchSDKKey(ctx context.Context, id int64, at time.Time) error {
	_, err := tx.exec(ctx, `UPDATE sdk_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, micros(at), id, micros(at))
	return err
}

// SDKKeyEpoch is a counter that moves after every committed creation or
// revocation of an SDK key in this process, so an authenticator caching
// the keys reloads at once.
func (db *DB) SDKKeyEpoch() uint64 { return db.sdkKeyEpoch.Load() }

// FlagEpoch is a counter that moves after every committed flag change in
// this process, so an evaluator caching flags reloads at once (other
// processes see the change through the flag generation).
func (db *DB) FlagEpoch() uint64 { return db.flagEpoch.Load() }

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
)

// CreateAgentToken stores a new join token for agents and audits it.
func (tx *Tx) CreateAgentToken(ctx context.Context, actor, name, secret string) (*shipgate.AgentToken, error) {
	if err := shipgate.ValidateTokenName(name); err != nil {
		return nil, err
	}
	t := &shipgate.AgentToken{Name: name, Prefix: shipgate.TokenDisplayPrefix(secret), CreatedBy: actor, CreatedAt: tx.now}
	if err := tx.queryRow(ctx, `INSERT INTO agent_tokens (name, hash, prefix, created_by, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		name, shipgate.HashToken(secret), t.Prefix, actor, micros(tx.now)).Scan(&t.ID); err != nil {
		return nil, err
	}
	return t, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionAgentTokenCreated, fmt.Sprintf("agent-token/%d", t.ID), map[string]any{"name": name, "prefix": t.Prefix}))
}

// RevokeAgentToken stops a join token; agents that joined with it are
// refused from then on.
func (tx *Tx) RevokeAgentToken(ctx context.Context, actor string, id int64) error {
	var revoked sql.NullInt64
	if err := tx.queryRow(ctx, `SELECT revoked_at FROM agent_tokens WHERE id = ?`, id).Scan(&revoked); err != nil {
		return notFound(err, "agent token %d does not exist", id)
	}
	if revoked.Valid {
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE agent_tokens SET revoked_at = ? WHERE id = ?`, micros(tx.now), id); err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionAgentTokenRevoked, fmt.Sprintf("agent-token/%d", id), nil))
}

// ListAgentTokens returns every agent token, never its secret.
func (tx *Tx) ListAgentTokens(ctx context.Context) ([]shipgate.AgentToken, error) {
	rows, err := tx.query(ctx, `SELECT id, name, prefix, created_by, created_at, revoked_at FROM agent_tokens ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.AgentToken{}
	for rows.Next() {
		var t shipgate.AgentToken
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Name, &t.Prefix, &t.CreatedBy, &created, &revoked); err != nil {
			return nil, err
		}
		t.CreatedAt, t.RevokedAt = fromMicros(created), fromNullMicros(revoked)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RegisterAgent joins (or re-joins) an agent by name with a join token and
// gives it a new secret; a previous secret of the same name stops working,
// so two processes cannot act as one agent.
func (tx *Tx) RegisterAgent(ctx context.Context, joinSecret string, a *shipgate.Agent, agentSecret string, lostAfter time.Duration) error {
	if err := shipgate.ValidateName("agent", a.Name); err != nil {
		return err
	}
	if err := shipgate.ValidateLabels(a.Labels); err != nil {
		return err
	}
	if err := shipgate.ValidateAgentInfo(a); err != nil {
		return err
	}
	var tokenID int64
	var revoked sql.NullInt64
	err := tx.queryRow(ctx, `SELECT id, revoked_at FROM agent_tokens WHERE hash = ?`, shipgate.HashToken(joinSecret)).Scan(&tokenID, &revoked)
	if err == sql.ErrNoRows || err == nil && revoked.Valid {
		return shipgate.Errorf(shipgate.EUNAUTHORIZED, "the agent token is not valid (unknown or revoked)")
	} else if err != nil {
		return err
	}
	labels, err := json.Marshal(a.Labels)
	if err != nil {
		return err
	}
	a.TokenID, a.LastSeen = tokenID, tx.now
	var id, oldToken, seen int64
	var instance string
	var oldRevoked sql.NullInt64
	err = tx.queryRow(ctx, `SELECT a.id, a.token_id, a.instance_id, a.last_seen, t.revoked_at FROM agents a JOIN agent_tokens t ON t.id = a.token_id WHERE a.name = ?`, a.Name).
		Scan(&id, &oldToken, &instance, &seen, &oldRevoked)
	rejoin := err == nil
	switch {
	case rejoin && oldToken != tokenID && !oldRevoked.Valid:
		// A name belongs to the token it joined with, while that token lives.
		return shipgate.Errorf(shipgate.EFORBIDDEN, "agent name %q belongs to agent token %d; join with that token, or revoke it first", a.Name, oldToken)
	case rejoin && instance != a.InstanceID && tx.now.Sub(fromMicros(seen)) <= lostAfter:
		// Another live process uses this name; taking it over would hand
		// its running attempts to a process that never ran them.
		return shipgate.Errorf(shipgate.ECONFLICT, "agent name %q is in use by another running agent (last seen %s ago); stop it, wait until it shows as lost, or choose another --name",
			a.Name, tx.now.Sub(fromMicros(seen)).Round(time.Second))
	case rejoin:
		a.ID = id
		_, err = tx.exec(ctx, `UPDATE agents SET token_id = ?, secret_hash = ?, labels = ?, version = ?, hostname = ?, instance_id = ?, last_seen = ? WHERE id = ?`,
			tokenID, shipgate.HashToken(agentSecret), string(labels), a.Version, a.Hostname, a.InstanceID, micros(tx.now), id)
	case err == sql.ErrNoRows:
		a.RegisteredAt = tx.now
		err = tx.queryRow(ctx, `INSERT INTO agents (name, token_id, secret_hash, labels, version, hostname, instance_id, registered_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			a.Name, tokenID, shipgate.HashToken(agentSecret), string(labels), a.Version, a.Hostname, a.InstanceID, micros(tx.now), micros(tx.now)).Scan(&a.ID)
	}
	if err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(a.Name, shipgate.ActionAgentRegistered, "agent/"+a.Name, map[string]any{
		"labels": a.Labels, "version": a.Version, "hostname": a.Hostname, "token_id": tokenID, "rejoined": rejoin, "instance_id": a.InstanceID,
	}))
}

const agentColumns = `a.id, a.name, a.token_id, a.labels, a.version, a.hostname, a.draining, a.instance_id, a.registered_at, a.last_seen`

func scanAgent(sc interface{ Scan(...any) error }) (*shipgate.Agent, error) {
	a := &shipgate.Agent{}
	var labels string
	var draining int
	var registered, seen int64
	if err := sc.Scan(&a.ID, &a.Name, &a.TokenID, &labels, &a.Version, &a.Hostname, &draining, &a.InstanceID, &registered, &seen); err != nil {
		return nil, err
	}
	a.Draining, a.RegisteredAt, a.LastSeen = draining != 0, fromMicros(registered), fromMicros(seen)
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, fmt.Errorf("decode labels of agent %s: %w", a.Name, err)
	}
	return a, nil
}

// AuthenticateAgent finds the agent owning secret. Unknown secrets and
// agents whose join token was revoked give EUNAUTHORIZED.
func (db *DB) AuthenticateAgent(ctx context.Context, secret string) (*shipgate.Agent, error) {
	var a *shipgate.Agent
	err := db.View(ctx, func(tx *Tx) error {
		var err error
		a, err = scanAgent(tx.queryRow(ctx, `SELECT `+agentColumns+` FROM agents a JOIN agent_tokens t ON t.id = a.token_id
			WHERE a.secret_hash = ? AND t.revoked_at IS NULL`, shipgate.HashToken(secret)))
		if err == sql.ErrNoRows {
			return shipgate.Errorf(shipgate.EUNAUTHORIZED, "the agent credentials are not valid (unknown, replaced by a newer registration, or their agent token was revoked)")
		}
		return err
	})
	return a, err
}

// TouchAgent records that an agent was heard from. Bookkeeping, not an
// audited change.
func (db *DB) TouchAgent(ctx context.Context, id int64) error {
	_, err := db.write.ExecContext(ctx, db.dialect.rebind(`UPDATE agents SET last_seen = ? WHERE id = ?`), micros(db.now()), id)
	return err
}

// FindAgent returns one agent by name.
func (tx *Tx) FindAgent(ctx context.Context, name string) (*shipgate.Agent, error) {
	a, err := scanAgent(tx.queryRow(ctx, `SELECT `+agentColumns+` FROM agents a WHERE a.name = ?`, name))
	if err != nil {
		return nil, notFound(err, "agent %q does not exist", name)
	}
	return a, nil
}

// ListAgents returns every agent by name.
func (tx *Tx) ListAgents(ctx context.Context) ([]*shipgate.Agent, error) {
	rows, err := tx.query(ctx, `SELECT `+agentColumns+` FROM agents a ORDER BY a.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*shipgate.Agent{}
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// SetAgentDraining asks an agent to take no new jobs (or to take them
// again) and audits it.
func (tx *Tx) SetAgentDraining(ctx context.Context, actor, name string, draining bool) (*shipgate.Agent, error) {
	a, err := tx.FindAgent(ctx, name)
	if err != nil {
		return nil, err
	}
	if a.Draining == draining {
		return a, nil
	}
	v := 0
	if draining {
		v = 1
	}
	if _, err := tx.exec(ctx, `UPDATE agents SET draining = ? WHERE id = ?`, v, a.ID); err != nil {
		return nil, err
	}
	a.Draining = draining
	action := shipgate.ActionAgentDrained
	if !draining {
		action = shipgate.ActionAgentResumed
	}
	return a, tx.Audit(ctx, shipgate.NewAuditEvent(actor, action, "agent/"+name, nil))
}

// BlockedAgents names the agents that must get no new work now: draining,
// or joined with a token that has since been revoked.
func (tx *Tx) BlockedAgents(ctx context.Context) (map[string]bool, error) {
	rows, err := tx.query(ctx, `SELECT a.name FROM agents a JOIN agent_tokens t ON t.id = a.token_id WHERE a.draining <> 0 OR t.revoked_at IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

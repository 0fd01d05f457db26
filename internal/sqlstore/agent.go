package sqlstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shipgate/shipgate"
)

// NewAgentToken is what an admin asks for when creating a join token.
type NewAgentToken struct {
	Name  string
	Scope map[string]string
	Envs  []string
	// ExpiresIn, if positive, is how long the token registers new agents.
	ExpiresIn time.Duration
}

// CreateAgentToken stores a new join token for agents and audits it.
func (tx *Tx) CreateAgentToken(ctx context.Context, actor string, nt NewAgentToken, secret string) (*shipgate.AgentToken, error) {
	if err := shipgate.ValidateTokenName(nt.Name); err != nil {
		return nil, err
	}
	t := &shipgate.AgentToken{Name: nt.Name, Prefix: shipgate.TokenDisplayPrefix(secret), Scope: maps.Clone(nt.Scope), Envs: slices.Clone(nt.Envs), CreatedBy: actor, CreatedAt: tx.now}
	if t.Scope == nil {
		t.Scope = map[string]string{}
	}
	if t.Envs == nil {
		t.Envs = []string{}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	switch {
	case nt.ExpiresIn < 0:
		return nil, shipgate.Errorf(shipgate.EINVALID, "expires in %s: the duration must be positive", nt.ExpiresIn)
	case nt.ExpiresIn > 0:
		at := tx.now.Add(nt.ExpiresIn)
		t.ExpiresAt = &at
	}
	scope, err := json.Marshal(t.Scope)
	if err != nil {
		return nil, err
	}
	envs, err := json.Marshal(t.Envs)
	if err != nil {
		return nil, err
	}
	if err := tx.queryRow(ctx, `INSERT INTO agent_tokens (name, hash, prefix, scope, envs, expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		t.Name, shipgate.HashToken(secret), t.Prefix, string(scope), string(envs), microsPtr(t.ExpiresAt), actor, micros(tx.now)).Scan(&t.ID); err != nil {
		return nil, err
	}
	details := map[string]any{"name": t.Name, "prefix": t.Prefix, "scope": t.Scope, "envs": t.Envs}
	if t.ExpiresAt != nil {
		details["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return t, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionAgentTokenCreated, shipgate.AgentTokenSubject(t.ID), details))
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
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionAgentTokenRevoked, shipgate.AgentTokenSubject(id), nil))
}

const agentTokenColumns = `id, name, prefix, scope, envs, expires_at, created_by, created_at, revoked_at`

func scanAgentToken(sc interface{ Scan(...any) error }) (*shipgate.AgentToken, error) {
	t := &shipgate.AgentToken{}
	var scope, envs string
	var created int64
	var expires, revoked sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Name, &t.Prefix, &scope, &envs, &expires, &t.CreatedBy, &created, &revoked); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMicros(created), fromNullMicros(expires), fromNullMicros(revoked)
	if err := json.Unmarshal([]byte(scope), &t.Scope); err != nil {
		return nil, fmt.Errorf("decode scope of agent token %d: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(envs), &t.Envs); err != nil {
		return nil, fmt.Errorf("decode environments of agent token %d: %w", t.ID, err)
	}
	return t, nil
}

// ListAgentTokens returns every agent token, never its secret.
func (tx *Tx) ListAgentTokens(ctx context.Context) ([]shipgate.AgentToken, error) {
	rows, err := tx.query(ctx, `SELECT `+agentTokenColumns+` FROM agent_tokens ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.AgentToken{}
	for rows.Next() {
		t, err := scanAgentToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// Join is one agent registration.
type Join struct {
	// Token is the join token's secret.
	Token string
	// Agent is who joins; RegisterAgent fills its ID, TokenID and times.
	Agent *shipgate.Agent
	// Secret is the new secret the agent gets; only its hash is stored.
	Secret string
	// Current is the secret of the agent's previous registration, if it
	// has one. Registering a name whose agent is live needs it.
	Current string
	// LostAfter is how long an agent may be silent before it counts as
	// lost (and its name may be taken with the join token alone).
	LostAfter time.Duration
}

// JoinRefused is a registration refused by the rules of a valid join
// token: labels outside its scope or reserved, an expired token, or a name
// that another token or a live agent holds. The HTTP layer audits it in a
// transaction of its own, since the registration's was rolled back.
type JoinRefused struct {
	TokenID int64
	Err     error // a *shipgate.Error saying why
}

func (e *JoinRefused) Error() string { return e.Err.Error() }
func (e *JoinRefused) Unwrap() error { return e.Err }

// RegisterAgent joins (or re-joins) an agent by name with a join token and
// gives it a new secret; a previous secret of the same name stops working,
// so two processes cannot act as one agent.
//
// The token must be known and not revoked. The agent's labels must agree
// with the token's scope and carry no reserved label. A name belongs to the
// token it joined with while that token lives. A name whose agent is live
// is re-registered only by that agent, proving itself with its current
// secret (Join.Current); a lost agent's name is free to its token. An
// expired token registers no new agent; its agents may still re-register
// their own names with their secrets.
func (tx *Tx) RegisterAgent(ctx context.Context, j Join) error {
	a := j.Agent
	if err := shipgate.ValidateName("agent", a.Name); err != nil {
		return err
	}
	if err := shipgate.ValidateLabels(a.Labels); err != nil {
		return err
	}
	if err := shipgate.ValidateAgentInfo(a); err != nil {
		return err
	}
	tok, err := scanAgentToken(tx.queryRow(ctx, `SELECT `+agentTokenColumns+` FROM agent_tokens WHERE hash = ?`, shipgate.HashToken(j.Token)))
	if err == sql.ErrNoRows || err == nil && tok.RevokedAt != nil {
		return shipgate.Errorf(shipgate.EUNAUTHORIZED, "the agent token is not valid (unknown or revoked)")
	} else if err != nil {
		return err
	}
	refuse := func(code, format string, args ...any) error {
		return &JoinRefused{TokenID: tok.ID, Err: shipgate.Errorf(code, format, args...)}
	}
	labels, err := json.Marshal(a.Labels)
	if err != nil {
		return err
	}
	a.TokenID, a.Envs, a.LastSeen = tok.ID, tok.Envs, tx.now
	if len(a.Envs) == 0 {
		a.Envs = nil // all
	}
	var id, oldToken, seen int64
	var secretHash string
	var oldRevoked sql.NullInt64
	err = tx.queryRow(ctx, `SELECT a.id, a.token_id, a.secret_hash, a.last_seen, t.revoked_at FROM agents a JOIN agent_tokens t ON t.id = a.token_id WHERE a.name = ?`, a.Name).
		Scan(&id, &oldToken, &secretHash, &seen, &oldRevoked)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	rejoin := err == nil
	silent := tx.now.Sub(fromMicros(seen))
	live := rejoin && silent <= j.LostAfter
	// The agent's own secret, compared by hash in constant time: the one
	// proof that this is the agent holding the name.
	proven := rejoin && j.Current != "" && subtle.ConstantTimeCompare([]byte(shipgate.HashToken(j.Current)), []byte(secretHash)) == 1
	switch {
	case tok.Expired(tx.now) && !(proven && oldToken == tok.ID):
		return refuse(shipgate.EFORBIDDEN, "agent token %d expired at %s: it registers no new agents (those that joined with it keep working, and may re-register with their own secret); create a new token",
			tok.ID, tok.ExpiresAt.UTC().Format(time.RFC3339))
	case rejoin && oldToken != tok.ID && !oldRevoked.Valid:
		// A name belongs to the token it joined with, while that token lives.
		return refuse(shipgate.EFORBIDDEN, "agent name %q belongs to agent token %d; join with that token, or revoke it first", a.Name, oldToken)
	case live && !proven:
		// Only the agent itself may take over its live name: anyone else
		// would get its running attempts, its services and their secrets.
		return refuse(shipgate.ECONFLICT, "agent name %q is in use by a live agent (last seen %s ago); only that agent can register it again, with the secret it keeps in its --work-dir. Stop it and wait until it shows as lost (after %s), or choose another --name",
			a.Name, silent.Round(time.Second), j.LostAfter)
	}
	if err := tok.AdmitLabels(a.Labels); err != nil {
		return &JoinRefused{TokenID: tok.ID, Err: err}
	}
	if rejoin {
		a.ID = id
		_, err = tx.exec(ctx, `UPDATE agents SET token_id = ?, secret_hash = ?, labels = ?, version = ?, hostname = ?, instance_id = ?, last_seen = ? WHERE id = ?`,
			tok.ID, shipgate.HashToken(j.Secret), string(labels), a.Version, a.Hostname, a.InstanceID, micros(tx.now), id)
	} else {
		a.RegisteredAt = tx.now
		err = tx.queryRow(ctx, `INSERT INTO agents (name, token_id, secret_hash, labels, version, hostname, instance_id, registered_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			a.Name, tok.ID, shipgate.HashToken(j.Secret), string(labels), a.Version, a.Hostname, a.InstanceID, micros(tx.now), micros(tx.now)).Scan(&a.ID)
	}
	if err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(a.Name, shipgate.ActionAgentRegistered, shipgate.AgentSubject(a.Name), map[string]any{
		"labels": a.Labels, "version": a.Version, "hostname": a.Hostname, "token_id": tok.ID, "rejoined": rejoin, "proven": proven, "instance_id": a.InstanceID,
	}))
}

// agentColumns are read FROM agentTables: an agent with its join token's
// environments.
const (
	agentColumns = `a.id, a.name, a.token_id, a.labels, a.version, a.hostname, a.draining, a.instance_id, a.registered_at, a.last_seen, t.envs`
	agentTables  = `agents a JOIN agent_tokens t ON t.id = a.token_id`
)

func scanAgent(sc interface{ Scan(...any) error }) (*shipgate.Agent, error) {
	a := &shipgate.Agent{}
	var labels, envs string
	var draining int
	var registered, seen int64
	if err := sc.Scan(&a.ID, &a.Name, &a.TokenID, &labels, &a.Version, &a.Hostname, &draining, &a.InstanceID, &registered, &seen, &envs); err != nil {
		return nil, err
	}
	a.Draining, a.RegisteredAt, a.LastSeen = draining != 0, fromMicros(registered), fromMicros(seen)
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, fmt.Errorf("decode labels of agent %s: %w", a.Name, err)
	}
	if err := json.Unmarshal([]byte(envs), &a.Envs); err != nil {
		return nil, fmt.Errorf("decode environments of agent %s: %w", a.Name, err)
	}
	if len(a.Envs) == 0 {
		a.Envs = nil // all
	}
	return a, nil
}

// AuthenticateAgent finds the agent owning secret. Unknown secrets and
// agents whose join token was revoked give EUNAUTHORIZED.
func (db *DB) AuthenticateAgent(ctx context.Context, secret string) (*shipgate.Agent, error) {
	var a *shipgate.Agent
	err := db.View(ctx, func(tx *Tx) error {
		var err error
		a, err = scanAgent(tx.queryRow(ctx, `SELECT `+agentColumns+` FROM `+agentTables+`
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
	a, err := scanAgent(tx.queryRow(ctx, `SELECT `+agentColumns+` FROM `+agentTables+` WHERE a.name = ?`, name))
	if err != nil {
		return nil, notFound(err, "agent %q does not exist", name)
	}
	return a, nil
}

// ListAgents returns every agent by name.
func (tx *Tx) ListAgents(ctx context.Context) ([]*shipgate.Agent, error) {
	rows, err := tx.query(ctx, `SELECT `+agentColumns+` FROM `+agentTables+` ORDER BY a.name`)
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
	return a, tx.Audit(ctx, shipgate.NewAuditEvent(actor, action, shipgate.AgentSubject(name), nil))
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

package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/shipgate/shipgate"
)

// CreateUser adds a user with roles and groups and audits it.
func (tx *Tx) CreateUser(ctx context.Context, actor string, u *shipgate.User) error {
	if err := shipgate.ValidateName("user", u.Name); err != nil {
		return err
	}
	if len(u.Roles) == 0 {
		u.Roles = []shipgate.Role{shipgate.RoleViewer}
	}
	roles := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		role, err := shipgate.ParseRole(string(r))
		if err != nil {
			return err
		}
		roles[i] = string(role)
	}
	for _, g := range u.Groups {
		if err := shipgate.ValidateName("group", g); err != nil {
			return err
		}
	}
	slices.Sort(roles)
	roles = slices.Compact(roles)
	u.CreatedAt = tx.now
	if _, err := tx.exec(ctx, `INSERT INTO users (name, roles, created_at) VALUES (?, ?, ?)`, u.Name, strings.Join(roles, ","), micros(tx.now)); err != nil {
		if isUniqueViolation(err) {
			return shipgate.Errorf(shipgate.ECONFLICT, "user %q already exists", u.Name)
		}
		return err
	}
	groups := slices.Compact(slices.Sorted(slices.Values(u.Groups)))
	for _, g := range groups {
		if _, err := tx.exec(ctx, `INSERT INTO group_members (group_name, user_name, added_at) VALUES (?, ?, ?)`, g, u.Name, micros(tx.now)); err != nil {
			return err
		}
	}
	u.Roles = u.Roles[:0]
	for _, r := range roles {
		u.Roles = append(u.Roles, shipgate.Role(r))
	}
	u.Groups = groups
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionUserCreated, "user/"+u.Name, map[string]any{
		"roles": roles, "groups": groups,
	}))
}

// FindUser returns a user with their groups.
func (tx *Tx) FindUser(ctx context.Context, name string) (*shipgate.User, error) {
	u := &shipgate.User{Name: name}
	var roles string
	var created int64
	err := tx.queryRow(ctx, `SELECT roles, created_at FROM users WHERE name = ?`, name).Scan(&roles, &created)
	if err != nil {
		return nil, notFound(err, "user %q does not exist", name)
	}
	u.CreatedAt = fromMicros(created)
	u.Roles = parseRoles(roles)
	rows, err := tx.query(ctx, `SELECT group_name FROM group_members WHERE user_name = ? ORDER BY group_name`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	u.Groups = []string{}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		u.Groups = append(u.Groups, g)
	}
	return u, rows.Err()
}

func parseRoles(s string) []shipgate.Role {
	out := []shipgate.Role{}
	for _, r := range strings.Split(s, ",") {
		if r != "" {
			out = append(out, shipgate.Role(r))
		}
	}
	return out
}

// ListUsers returns every user with their groups, by name.
func (tx *Tx) ListUsers(ctx context.Context) ([]*shipgate.User, error) {
	rows, err := tx.query(ctx, `SELECT name, roles, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var users []*shipgate.User
	byName := map[string]*shipgate.User{}
	for rows.Next() {
		u := &shipgate.User{Groups: []string{}}
		var roles string
		var created int64
		if err := rows.Scan(&u.Name, &roles, &created); err != nil {
			rows.Close()
			return nil, err
		}
		u.Roles, u.CreatedAt = parseRoles(roles), fromMicros(created)
		users = append(users, u)
		byName[u.Name] = u
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.query(ctx, `SELECT group_name, user_name FROM group_members ORDER BY group_name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var g, n string
		if err := rows.Scan(&g, &n); err != nil {
			return nil, err
		}
		if u := byName[n]; u != nil {
			u.Groups = append(u.Groups, g)
		}
	}
	return users, rows.Err()
}

// CountUsers tells whether the store has been bootstrapped.
func (tx *Tx) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := tx.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// AddGroupMember puts user into group (creating the group) and audits it.
// Adding an existing member is a no-op.
func (tx *Tx) AddGroupMember(ctx context.Context, actor, group, user string) error {
	if err := shipgate.ValidateName("group", group); err != nil {
		return err
	}
	if _, err := tx.FindUser(ctx, user); err != nil {
		return err
	}
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM group_members WHERE group_name = ? AND user_name = ?`, group, user).Scan(&one)
	if err == nil {
		return nil
	} else if err != sql.ErrNoRows {
		return err
	}
	if _, err := tx.exec(ctx, `INSERT INTO group_members (group_name, user_name, added_at) VALUES (?, ?, ?)`, group, user, micros(tx.now)); err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionGroupMemberAdded, "group/"+group, map[string]any{"user": user}))
}

// ListGroups returns every group with its members.
func (tx *Tx) ListGroups(ctx context.Context) ([]shipgate.Group, error) {
	rows, err := tx.query(ctx, `SELECT group_name, user_name FROM group_members ORDER BY group_name, user_name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byName := map[string]*shipgate.Group{}
	var names []string
	for rows.Next() {
		var g, u string
		if err := rows.Scan(&g, &u); err != nil {
			return nil, err
		}
		if byName[g] == nil {
			byName[g] = &shipgate.Group{Name: g}
			names = append(names, g)
		}
		byName[g].Members = append(byName[g].Members, u)
	}
	sort.Strings(names)
	out := make([]shipgate.Group, len(names))
	for i, n := range names {
		out[i] = *byName[n]
	}
	return out, rows.Err()
}

// CreateToken stores a new token for user and audits it. The secret itself
// is not stored; only its hash and a short display prefix.
func (tx *Tx) CreateToken(ctx context.Context, actor, user, name, secret string) (*shipgate.Token, error) {
	if err := shipgate.ValidateTokenName(name); err != nil {
		return nil, err
	}
	if _, err := tx.FindUser(ctx, user); err != nil {
		return nil, err
	}
	t := &shipgate.Token{User: user, Name: name, Prefix: shipgate.TokenDisplayPrefix(secret), CreatedAt: tx.now, CreatedBy: actor}
	err := tx.queryRow(ctx, `INSERT INTO tokens (user_name, name, hash, prefix, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		user, name, shipgate.HashToken(secret), t.Prefix, micros(tx.now), actor).Scan(&t.ID)
	if err != nil {
		if isUniqueViolation(err) {
			return nil, shipgate.Errorf(shipgate.ECONFLICT, "this token value is already in use")
		}
		return nil, err
	}
	return t, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionTokenCreated, "user/"+user, map[string]any{
		"token_id": t.ID, "prefix": t.Prefix, "name": name,
	}))
}

// RevokeToken marks a token unusable and audits it.
func (tx *Tx) RevokeToken(ctx context.Context, actor string, id int64) error {
	var user string
	var revoked sql.NullInt64
	if err := tx.queryRow(ctx, `SELECT user_name, revoked_at FROM tokens WHERE id = ?`, id).Scan(&user, &revoked); err != nil {
		return notFound(err, "token %d does not exist", id)
	}
	if revoked.Valid {
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ?`, micros(tx.now), id); err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionTokenRevoked, "user/"+user, map[string]any{"token_id": id}))
}

// ListTokens returns the tokens of user, or of everyone when user is "".
func (tx *Tx) ListTokens(ctx context.Context, user string) ([]shipgate.Token, error) {
	q := `SELECT id, user_name, name, prefix, created_at, created_by, last_used_at, revoked_at FROM tokens`
	var args []any
	if user != "" {
		q += ` WHERE user_name = ?`
		args = append(args, user)
	}
	rows, err := tx.query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.Token{}
	for rows.Next() {
		var t shipgate.Token
		var created int64
		var used, revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.User, &t.Name, &t.Prefix, &created, &t.CreatedBy, &used, &revoked); err != nil {
			return nil, err
		}
		t.CreatedAt, t.LastUsedAt, t.RevokedAt = fromMicros(created), fromNullMicros(used), fromNullMicros(revoked)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Authenticate finds the user owning a token secret. Unknown and revoked
// tokens give EUNAUTHORIZED without saying which, so tokens cannot be probed.
func (db *DB) Authenticate(ctx context.Context, secret string) (*shipgate.User, int64, error) {
	var u *shipgate.User
	var id int64
	err := db.View(ctx, func(tx *Tx) error {
		var user string
		var revoked sql.NullInt64
		err := tx.queryRow(ctx, `SELECT id, user_name, revoked_at FROM tokens WHERE hash = ?`, shipgate.HashToken(secret)).Scan(&id, &user, &revoked)
		if err == sql.ErrNoRows || err == nil && revoked.Valid {
			return shipgate.Errorf(shipgate.EUNAUTHORIZED, "the token is not valid (unknown or revoked)")
		} else if err != nil {
			return err
		}
		u, err = tx.FindUser(ctx, user)
		return err
	})
	return u, id, err
}

// TouchToken records that a token was used. It is bookkeeping, not an
// audited change, and skips the audit lock.
func (db *DB) TouchToken(ctx context.Context, id int64) error {
	_, err := db.write.ExecContext(ctx, db.dialect.rebind(`UPDATE tokens SET last_used_at = ? WHERE id = ?`), micros(db.now()), id)
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}

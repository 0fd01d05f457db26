package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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
	roles, err := shipgate.NormalizeRoles(u.Roles)
	if err != nil {
		return err
	}
	for _, g := range u.Groups {
		if err := shipgate.ValidateName("group", g); err != nil {
			return err
		}
	}
	u.CreatedAt = tx.now
	if _, err := tx.exec(ctx, `INSERT INTO users (name, roles, created_at) VALUES (?, ?, ?)`, u.Name, joinRoles(roles), micros(tx.now)); err != nil {
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
	u.Roles, u.Groups = roles, groups
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionUserCreated, shipgate.UserSubject(u.Name), map[string]any{
		"roles": roles, "groups": groups,
	}))
}

func joinRoles(roles []shipgate.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// FindUser returns a user with their groups.
func (tx *Tx) FindUser(ctx context.Context, name string) (*shipgate.User, error) {
	u := &shipgate.User{Name: name}
	var roles string
	var created int64
	var disabled sql.NullInt64
	err := tx.queryRow(ctx, `SELECT roles, created_at, disabled_at, disabled_by FROM users WHERE name = ?`, name).Scan(&roles, &created, &disabled, &u.DisabledBy)
	if err != nil {
		return nil, notFound(err, "user %q does not exist", name)
	}
	u.CreatedAt, u.DisabledAt = fromMicros(created), fromNullMicros(disabled)
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
	rows, err := tx.query(ctx, `SELECT name, roles, created_at, disabled_at, disabled_by FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var users []*shipgate.User
	byName := map[string]*shipgate.User{}
	for rows.Next() {
		u := &shipgate.User{Groups: []string{}}
		var roles string
		var created int64
		var disabled sql.NullInt64
		if err := rows.Scan(&u.Name, &roles, &created, &disabled, &u.DisabledBy); err != nil {
			rows.Close()
			return nil, err
		}
		u.Roles, u.CreatedAt, u.DisabledAt = parseRoles(roles), fromMicros(created), fromNullMicros(disabled)
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

// AddGroupMember puts user into group (creating the group) and audits it
// with the user's groups before and after. Adding an existing member is a
// no-op. Nobody adds themselves.
func (tx *Tx) AddGroupMember(ctx context.Context, actor, group, user string) error {
	if err := shipgate.ValidateName("group", group); err != nil {
		return err
	}
	if err := shipgate.CheckNotSelf(actor, user, "add themselves to group "+strconv.Quote(group)); err != nil {
		return err
	}
	u, err := tx.FindUser(ctx, user)
	if err != nil {
		return err
	}
	if slices.Contains(u.Groups, group) {
		return nil
	}
	if _, err := tx.exec(ctx, `INSERT INTO group_members (group_name, user_name, added_at) VALUES (?, ?, ?)`, group, user, micros(tx.now)); err != nil {
		return err
	}
	after := slices.Sorted(slices.Values(append(slices.Clone(u.Groups), group)))
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionGroupMemberAdded, shipgate.GroupSubject(group), map[string]any{
		"user": user, "groups_before": u.Groups, "groups_after": after,
	}))
}

// RemoveGroupMember takes user out of group and audits it with the user's
// groups before and after. The user's approvals that no longer hold (a
// release taking approvers from that group only) are withdrawn in the same
// transaction; the releases they were on are returned for the caller to
// plan again. Nobody removes themselves.
func (tx *Tx) RemoveGroupMember(ctx context.Context, actor, group, user string) ([]int64, error) {
	return tx.removeGroupMember(ctx, actor, group, user, nil)
}

func (tx *Tx) removeGroupMember(ctx context.Context, actor, group, user string, g *approverGuard) ([]int64, error) {
	if err := shipgate.CheckNotSelf(actor, user, "remove themselves from group "+strconv.Quote(group)); err != nil {
		return nil, err
	}
	u, err := tx.FindUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(u.Groups, group) {
		return nil, shipgate.Errorf(shipgate.ENOTFOUND, "user %q is not a member of group %q", user, group)
	}
	before := u.Groups
	after := *u
	after.Groups = slices.DeleteFunc(slices.Clone(before), func(g string) bool { return g == group })
	if err := g.check(ctx, tx, fmt.Sprintf("removing %q from group %q", user, group), u, &after); err != nil {
		return nil, err
	}
	if _, err := tx.exec(ctx, `DELETE FROM group_members WHERE group_name = ? AND user_name = ?`, group, user); err != nil {
		return nil, err
	}
	u.Groups = after.Groups
	if err := tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionGroupMemberRemoved, shipgate.GroupSubject(group), map[string]any{
		"user": user, "groups_before": before, "groups_after": u.Groups,
	})); err != nil {
		return nil, err
	}
	touched, err := tx.withdrawApprovals(ctx, actor, u, fmt.Sprintf("%s was removed from group %s by %s", user, group, actor))
	if err != nil {
		return nil, err
	}
	return touched, g.audit(ctx, tx, actor, user, shipgate.ActionGroupMemberRemoved)
}

// SetUserRoles replaces user's roles and audits the roles before and
// after. Approvals that no longer hold (the approver role taken away) are
// withdrawn in the same transaction, and the releases they were on
// returned. Nobody changes their own roles, and the last enabled admin
// keeps theirs. Setting the roles a user already has is a no-op.
func (tx *Tx) SetUserRoles(ctx context.Context, actor, user string, roles []shipgate.Role) ([]int64, error) {
	return tx.setUserRoles(ctx, actor, user, roles, nil)
}

func (tx *Tx) setUserRoles(ctx context.Context, actor, user string, roles []shipgate.Role, g *approverGuard) ([]int64, error) {
	roles, err := shipgate.NormalizeRoles(roles)
	if err != nil {
		return nil, err
	}
	if err := shipgate.CheckNotSelf(actor, user, "change their own roles"); err != nil {
		return nil, err
	}
	u, err := tx.FindUser(ctx, user)
	if err != nil {
		return nil, err
	}
	before := u.Roles
	if slices.Equal(before, roles) {
		return nil, nil
	}
	after := *u
	after.Roles = roles
	if err := g.check(ctx, tx, fmt.Sprintf("taking the approver role from %q", user), u, &after); err != nil {
		return nil, err
	}
	if u.HasRole(shipgate.RoleAdmin) && !slices.Contains(roles, shipgate.RoleAdmin) {
		if err := tx.keepAnAdmin(ctx, user, "take the admin role from"); err != nil {
			return nil, err
		}
	}
	if _, err := tx.exec(ctx, `UPDATE users SET roles = ? WHERE name = ?`, joinRoles(roles), user); err != nil {
		return nil, err
	}
	u.Roles = roles
	if err := tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionUserRolesChanged, shipgate.UserSubject(user), map[string]any{
		"roles_before": before, "roles_after": roles,
	})); err != nil {
		return nil, err
	}
	touched, err := tx.withdrawApprovals(ctx, actor, u, fmt.Sprintf("%s's roles were changed by %s to %s", user, actor, joinRoles(roles)))
	if err != nil {
		return nil, err
	}
	return touched, g.audit(ctx, tx, actor, user, shipgate.ActionUserRolesChanged)
}

// DisableUser stops user at once: their tokens are refused from the next
// request on, and every approval of theirs that could still start a run is
// withdrawn and audited in this transaction. The releases those approvals
// were on are returned for the caller to plan again. Nobody disables
// themselves, and the last enabled admin stays enabled. Disabling a
// disabled user is a no-op.
func (tx *Tx) DisableUser(ctx context.Context, actor, user, reason string) ([]int64, error) {
	return tx.disableUser(ctx, actor, user, reason, nil)
}

func (tx *Tx) disableUser(ctx context.Context, actor, user, reason string, g *approverGuard) ([]int64, error) {
	if err := shipgate.ValidateLine("reason", reason, 500); err != nil {
		return nil, err
	}
	if err := shipgate.CheckNotSelf(actor, user, "disable themselves"); err != nil {
		return nil, err
	}
	u, err := tx.FindUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		return nil, nil
	}
	now := tx.now
	after := *u
	after.DisabledAt = &now
	if err := g.check(ctx, tx, fmt.Sprintf("disabling %q", user), u, &after); err != nil {
		return nil, err
	}
	if u.HasRole(shipgate.RoleAdmin) {
		if err := tx.keepAnAdmin(ctx, user, "disable"); err != nil {
			return nil, err
		}
	}
	if _, err := tx.exec(ctx, `UPDATE users SET disabled_at = ?, disabled_by = ? WHERE name = ?`, micros(tx.now), actor, user); err != nil {
		return nil, err
	}
	u.DisabledAt, u.DisabledBy = &now, actor
	if err := tx.endUserSessions(ctx, actor, user, "user disabled"); err != nil {
		return nil, err
	}
	if err := tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionUserDisabled, shipgate.UserSubject(user), map[string]any{
		"reason": reason, "roles": u.Roles, "groups": u.Groups,
	})); err != nil {
		return nil, err
	}
	why := fmt.Sprintf("%s was disabled by %s", user, actor)
	if reason != "" {
		why += ": " + reason
	}
	touched, err := tx.withdrawApprovals(ctx, actor, u, why)
	if err != nil {
		return nil, err
	}
	return touched, g.audit(ctx, tx, actor, user, shipgate.ActionUserDisabled)
}

// EnableUser lets a disabled user in again: their unrevoked, unexpired
// tokens work again. Approvals withdrawn while they were disabled stay
// withdrawn. Enabling an enabled user is a no-op.
func (tx *Tx) EnableUser(ctx context.Context, actor, user string) error {
	if err := shipgate.CheckNotSelf(actor, user, "enable themselves"); err != nil {
		return err
	}
	u, err := tx.FindUser(ctx, user)
	if err != nil {
		return err
	}
	if !u.Disabled() {
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE users SET disabled_at = NULL, disabled_by = '' WHERE name = ?`, user); err != nil {
		return err
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionUserEnabled, shipgate.UserSubject(user), map[string]any{
		"disabled_at": u.DisabledAt.Format(time.RFC3339Nano), "disabled_by": u.DisabledBy,
	}))
}

// keepAnAdmin refuses a change that would leave no enabled admin besides
// user: nobody could then manage users, tokens or services.
func (tx *Tx) keepAnAdmin(ctx context.Context, user, change string) error {
	rows, err := tx.query(ctx, `SELECT name, roles FROM users WHERE disabled_at IS NULL AND name <> ?`, user)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name, roles string
		if err := rows.Scan(&name, &roles); err != nil {
			return err
		}
		if slices.Contains(parseRoles(roles), shipgate.RoleAdmin) {
			return rows.Err()
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "cannot %s user %q: it is the last enabled admin, and nobody could manage this server after that; make another user admin first", change, user)
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

// CreateToken stores a new token for user that never expires; see
// IssueToken.
func (tx *Tx) CreateToken(ctx context.Context, actor, user, name, secret string) (*shipgate.Token, error) {
	return tx.IssueToken(ctx, actor, user, name, secret, 0)
}

// IssueToken stores a new token for user, living for lifetime (0: no
// expiry), and audits it. The secret itself is not stored; only its hash
// and a short display prefix. A disabled user gets no new token.
func (tx *Tx) IssueToken(ctx context.Context, actor, user, name, secret string, lifetime time.Duration) (*shipgate.Token, error) {
	if err := shipgate.ValidateTokenName(name); err != nil {
		return nil, err
	}
	u, err := tx.FindUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "user %q is disabled; enable them before giving them a token", user)
	}
	t := &shipgate.Token{User: user, Name: name, Prefix: shipgate.TokenDisplayPrefix(secret), CreatedAt: tx.now, CreatedBy: actor, State: shipgate.TokenActive}
	if lifetime > 0 {
		exp := tx.now.Add(lifetime)
		t.ExpiresAt = &exp
	}
	err = tx.queryRow(ctx, `INSERT INTO tokens (user_name, name, hash, prefix, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		user, name, shipgate.HashToken(secret), t.Prefix, micros(tx.now), actor, microsPtr(t.ExpiresAt)).Scan(&t.ID)
	if err != nil {
		if isUniqueViolation(err) {
			return nil, shipgate.Errorf(shipgate.ECONFLICT, "this token value is already in use")
		}
		return nil, err
	}
	details := map[string]any{"token_id": t.ID, "prefix": t.Prefix, "name": name}
	if t.ExpiresAt != nil {
		details["expires_at"] = t.ExpiresAt.Format(time.RFC3339Nano)
	}
	return t, tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionTokenCreated, shipgate.UserSubject(user), details))
}

// RevokeToken marks a token unusable and audits it. Revoking a revoked
// token is a no-op.
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
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionTokenRevoked, shipgate.UserSubject(user), map[string]any{"token_id": id}))
}

const tokenColumns = `t.id, t.user_name, t.name, t.prefix, t.created_at, t.created_by, t.last_used_at, t.revoked_at, t.expires_at, u.disabled_at`

func (tx *Tx) scanToken(sc interface{ Scan(...any) error }) (shipgate.Token, error) {
	var t shipgate.Token
	var created int64
	var used, revoked, expires, disabled sql.NullInt64
	if err := sc.Scan(&t.ID, &t.User, &t.Name, &t.Prefix, &created, &t.CreatedBy, &used, &revoked, &expires, &disabled); err != nil {
		return t, err
	}
	t.CreatedAt, t.LastUsedAt, t.RevokedAt, t.ExpiresAt = fromMicros(created), fromNullMicros(used), fromNullMicros(revoked), fromNullMicros(expires)
	t.State = t.StateAt(tx.now, disabled.Valid)
	return t, nil
}

// FindToken returns one token with its state.
func (tx *Tx) FindToken(ctx context.Context, id int64) (*shipgate.Token, error) {
	t, err := tx.scanToken(tx.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "token %d does not exist", id)
	}
	return &t, nil
}

// ListTokens returns the tokens of user, or of everyone when user is "",
// each with its state at the transaction's time.
func (tx *Tx) ListTokens(ctx context.Context, user string) ([]shipgate.Token, error) {
	q := `SELECT ` + tokenColumns + ` FROM tokens t JOIN users u ON u.name = t.user_name`
	var args []any
	if user != "" {
		q += ` WHERE t.user_name = ?`
		args = append(args, user)
	}
	rows, err := tx.query(ctx, q+` ORDER BY t.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.Token{}
	for rows.Next() {
		t, err := tx.scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// errBadToken is the one answer to every token that does not work:
// unknown, revoked, expired, or its user disabled. Saying which would help
// someone holding a stolen or guessed token.
var errBadToken = shipgate.Errorf(shipgate.EUNAUTHORIZED, "the token is not valid (unknown, revoked, expired, or its user is disabled)")

// Authenticate finds the user owning a token secret. A token works only if
// it is not revoked, not expired, and its user is enabled; this is checked
// on every request, so disabling a user or revoking a token takes effect
// at once.
func (db *DB) Authenticate(ctx context.Context, secret string) (*shipgate.User, int64, error) {
	var u *shipgate.User
	var id int64
	err := db.View(ctx, func(tx *Tx) error {
		t, err := tx.scanToken(tx.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.hash = ?`, shipgate.HashToken(secret)))
		if err == sql.ErrNoRows {
			return errBadToken
		} else if err != nil {
			return err
		}
		if t.State != shipgate.TokenActive {
			return errBadToken
		}
		id = t.ID
		u, err = tx.FindUser(ctx, t.User)
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

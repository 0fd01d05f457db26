package shipgate

import (
	"slices"
	"strings"
	"time"
)

// Role is a coarse grant held by a user. Roles add up. Admin holds every
// permission but one: approving needs the approver role, so that running
// the server never implies deciding what ships. Approving additionally
// depends on the environment's policy.
type Role string

// The roles of step 1.
const (
	RoleViewer   Role = "viewer"
	RoleDeployer Role = "deployer"
	RoleApprover Role = "approver"
	RoleAdmin    Role = "admin"
)

// Roles lists every role in order of increasing reach.
var Roles = []Role{RoleViewer, RoleDeployer, RoleApprover, RoleAdmin}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Roles, r) {
		return "", Errorf(EINVALID, "role %q is not known (use viewer, deployer, approver or admin)", s)
	}
	return r, nil
}

// Permission is one thing an API caller may be allowed to do.
type Permission string

// Permissions checked by the API. Each route names exactly one.
const (
	PermRead          Permission = "read"
	PermReleaseCreate Permission = "release.create"
	PermReleaseCancel Permission = "release.cancel"
	PermReleaseRerun  Permission = "release.rerun"
	PermRollback      Permission = "release.rollback"
	// PermPromote continues a rollout paused for a person.
	PermPromote      Permission = "release.promote"
	PermApprove      Permission = "release.approve"
	PermServiceApply Permission = "service.apply"
	PermAdmin        Permission = "admin"
	// PermFlagChange asks for a flag change (set, enable, disable,
	// rollout), which may wait for approvals; PermFlagKill turns a flag to
	// its safe variant at once, without approval (an incident action).
	PermFlagChange Permission = "flag.change"
	PermFlagKill   Permission = "flag.kill"
	// PermOwnTokens lists and revokes the caller's own tokens; every role
	// holds it, so anyone can retire a token they no longer trust.
	PermOwnTokens Permission = "token.own"
	// PermAgent and PermAgentJoin mark the agent protocol's routes: they
	// are not granted by roles but by an agent's credentials.
	PermAgent     Permission = "agent"
	PermAgentJoin Permission = "agent.join"
)

var rolePerms = map[Role][]Permission{
	RoleViewer: {PermRead, PermOwnTokens},
	RoleDeployer: {PermRead, PermOwnTokens, PermReleaseCreate, PermReleaseCancel, PermReleaseRerun, PermRollback, PermPromote,
		PermFlagChange, PermFlagKill},
	RoleApprover: {PermRead, PermOwnTokens, PermApprove},
	// Admin: everything a role can grant except PermApprove.
	RoleAdmin: {PermRead, PermOwnTokens, PermReleaseCreate, PermReleaseCancel, PermReleaseRerun, PermRollback, PermPromote,
		PermFlagChange, PermFlagKill, PermServiceApply, PermAdmin},
}

// RolePermissions returns what a role grants (the table docs/security.md
// shows, which a test holds to the route table).
func RolePermissions(r Role) []Permission { return slices.Clone(rolePerms[r]) }

// RolesGranting lists the roles that grant p, in the order of Roles: what
// a refusal names so that the reader knows which role to ask for.
func RolesGranting(p Permission) []Role {
	var out []Role
	for _, r := range Roles {
		if slices.Contains(rolePerms[r], p) {
			out = append(out, r)
		}
	}
	return out
}

// User is a person or automation that calls the API.
type User struct {
	Name      string    `json:"name"`
	Roles     []Role    `json:"roles"`
	Groups    []string  `json:"groups"`
	CreatedAt time.Time `json:"created_at"`
	// DisabledAt is set while the user is disabled: their tokens are
	// refused and they count as an approver nowhere.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	DisabledBy string     `json:"disabled_by,omitempty"`
	// TokenID is the token that authenticated this user for the request
	// at hand (0 outside a request). Decisions record it, with who
	// created that token, so an approval made with a token someone else
	// minted for the approver stands out in the audit log.
	TokenID int64 `json:"-"`
}

// Disabled reports whether the user is disabled.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

// Can reports whether the user's roles grant p. A disabled user can do
// nothing.
func (u *User) Can(p Permission) bool {
	if u.Disabled() {
		return false
	}
	for _, r := range u.Roles {
		if slices.Contains(rolePerms[r], p) {
			return true
		}
	}
	return false
}

// HasRole reports whether the user holds r.
func (u *User) HasRole(r Role) bool { return slices.Contains(u.Roles, r) }

// NormalizeRoles parses, sorts and de-duplicates roles. A user holds at
// least one role; taking every role away is what disabling is for.
func NormalizeRoles(roles []Role) ([]Role, error) {
	if len(roles) == 0 {
		return nil, Errorf(EINVALID, "a user needs at least one role (use viewer, deployer, approver or admin); to take all access away, disable the user")
	}
	out := make([]Role, 0, len(roles))
	for _, r := range roles {
		role, err := ParseRole(string(r))
		if err != nil {
			return nil, err
		}
		out = append(out, role)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// CheckNotSelf refuses a change of a person's own roles, groups or access
// (what says what they may do): otherwise an admin could make themselves a
// release manager and approve. Another admin has to make it, and the audit
// log shows who.
func CheckNotSelf(actor, user, change string) error {
	if actor == user {
		return Errorf(EFORBIDDEN, "user %q may not %s: nobody changes their own roles, groups or access; ask another admin", actor, change)
	}
	return nil
}

// InAnyGroup reports whether the user is a member of at least one of groups.
func (u *User) InAnyGroup(groups []string) bool {
	for _, g := range groups {
		if slices.Contains(u.Groups, g) {
			return true
		}
	}
	return false
}

// Audit actions of people and their tokens. Membership and role changes
// record the user's groups or roles before and after.
const (
	ActionUserDisabled       = "user.disabled"
	ActionUserEnabled        = "user.enabled"
	ActionUserRolesChanged   = "user.roles_changed"
	ActionGroupMemberRemoved = "group.member_removed"
	// ActionApprovalWithdrawn records that an approval stopped counting
	// before it expired because its giver lost the power to give it.
	ActionApprovalWithdrawn = "approval.withdrawn"
)

// Group is a named set of users; approval policies name groups.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// Token is an API token. Only a hash of the secret is stored; the secret is
// shown once, when the token is created.
type Token struct {
	ID         int64      `json:"id"`
	User       string     `json:"user"`
	Name       string     `json:"name,omitempty"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// ExpiresAt is when the token stops working on its own; nil never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// State is whether the token works, as of when it was listed.
	State TokenState `json:"state"`
}

// TokenState says whether a token is accepted, and if not, why.
type TokenState string

// Token states, in the order they win: a revoked token stays revoked
// after it would have expired.
const (
	TokenActive TokenState = "active"
	// TokenUserDisabled: the token is fine but its user is disabled; it
	// works again if the user is enabled.
	TokenUserDisabled TokenState = "user_disabled"
	TokenExpired      TokenState = "expired"
	TokenRevoked      TokenState = "revoked"
)

// StateAt returns the token's state at now given whether its user is
// disabled.
func (t *Token) StateAt(now time.Time, userDisabled bool) TokenState {
	switch {
	case t.RevokedAt != nil:
		return TokenRevoked
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return TokenExpired
	case userDisabled:
		return TokenUserDisabled
	}
	return TokenActive
}

// TokenLifetime decides how long a new token lives. requested 0 means "no
// preference"; max 0 means the server sets no maximum. With a maximum, a
// token without a requested lifetime gets the maximum, and a request above
// it is refused rather than quietly shortened, so nobody is surprised by a
// token that dies early. 0 in the result means the token never expires.
func TokenLifetime(requested, max time.Duration) (time.Duration, error) {
	switch {
	case requested < 0:
		return 0, Errorf(EINVALID, "expires_in must not be negative")
	case requested > 0 && requested < time.Minute:
		return 0, Errorf(EINVALID, "expires_in %s is shorter than a minute", requested)
	case max > 0 && requested > max:
		return 0, Errorf(EINVALID, "expires_in %s is longer than this server's maximum token lifetime of %s (tokens.max_lifetime)", requested, max)
	case max > 0 && requested == 0:
		return max, nil
	}
	return requested, nil
}

// ValidateTokenName checks the name given to an API or agent join token:
// one line of printable text of up to 100 bytes (it is shown in token
// lists and the audit log).
func ValidateTokenName(name string) error { return ValidateLine("token name", name, 100) }

// TokenPrefix starts every API token so that leaked tokens are easy to find
// with secret scanners.
const TokenPrefix = "sgp_"

// NewTokenSecret returns a fresh random token: the prefix and 160 bits of
// randomness.
func NewTokenSecret() string { return NewSecret(TokenPrefix) }

// HashToken is how tokens are stored and looked up. Tokens carry 160 random
// bits, so a plain sha256 is enough: there is nothing to brute-force.
func HashToken(secret string) string {
	return SHA256Hex([]byte(secret))
}

// TokenDisplayPrefix is the non-secret start of a token kept for display.
func TokenDisplayPrefix(secret string) string {
	if len(secret) > len(TokenPrefix)+6 {
		return secret[:len(TokenPrefix)+6]
	}
	return secret
}

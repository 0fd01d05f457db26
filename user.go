package shipgate

import (
	"slices"
	"strings"
	"time"
)

// Role is a coarse grant held by a user. Roles add up; admin holds every
// permission. Approving additionally depends on the environment's policy.
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
	// PermAgent and PermAgentJoin mark the agent protocol's routes: they
	// are not granted by roles but by an agent's credentials.
	PermAgent     Permission = "agent"
	PermAgentJoin Permission = "agent.join"
)

var rolePerms = map[Role][]Permission{
	RoleViewer:   {PermRead},
	RoleDeployer: {PermRead, PermReleaseCreate, PermReleaseCancel, PermReleaseRerun, PermRollback, PermPromote},
	RoleApprover: {PermRead, PermApprove},
}

// User is a person or automation that calls the API.
type User struct {
	Name      string    `json:"name"`
	Roles     []Role    `json:"roles"`
	Groups    []string  `json:"groups"`
	CreatedAt time.Time `json:"created_at"`
}

// Can reports whether the user's roles grant p.
func (u *User) Can(p Permission) bool {
	for _, r := range u.Roles {
		if r == RoleAdmin || slices.Contains(rolePerms[r], p) {
			return true
		}
	}
	return false
}

// HasRole reports whether the user holds r.
func (u *User) HasRole(r Role) bool { return slices.Contains(u.Roles, r) }

// InAnyGroup reports whether the user is a member of at least one of groups.
func (u *User) InAnyGroup(groups []string) bool {
	for _, g := range groups {
		if slices.Contains(u.Groups, g) {
			return true
		}
	}
	return false
}

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

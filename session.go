package shipgate

import (
	"strconv"
	"time"
)

// Session login methods. A session acts as one user; how it was opened is
// recorded, so another method (OIDC) can be added beside tokens.
const (
	SessionByToken = "token" // opened with one of the user's API tokens
)

// SessionPrefix starts every session secret (the web UI's cookie value).
const SessionPrefix = "sgs_"

// DefaultSessionLifetime is how long a web UI session lasts when the server
// sets no other lifetime.
const DefaultSessionLifetime = 12 * time.Hour

// Session is a web UI login. It is valid until EndedAt or ExpiresAt, and
// only while its token (for SessionByToken) and its user are.
type Session struct {
	ID        int64      `json:"id"`
	User      string     `json:"user"`
	Method    string     `json:"method"`
	TokenID   int64      `json:"token_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// SessionSubject names a session in the audit log.
func SessionSubject(id int64) string { return "session/" + strconv.FormatInt(id, 10) }

// Session audit actions.
const (
	ActionSessionStarted = "session.started"
	ActionSessionEnded   = "session.ended"
)

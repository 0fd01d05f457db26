package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/shipgate/shipgate"
)

// errBadSession is every refusal of a session cookie: unknown, ended,
// expired, or its token or user no longer valid. One message, so a caller
// learns nothing about which.
var errBadSession = shipgate.Errorf(shipgate.EUNAUTHORIZED, "the session is not valid (logged out, expired, or its token or user is no longer valid): log in again")

const sessionColumns = `s.id, s.user_name, s.method, s.token_id, s.created_at, s.expires_at, s.ended_at`

func scanSession(sc interface{ Scan(...any) error }) (*shipgate.Session, error) {
	var s shipgate.Session
	var token, ended sql.NullInt64
	var created, expires int64
	if err := sc.Scan(&s.ID, &s.User, &s.Method, &token, &created, &expires, &ended); err != nil {
		return nil, err
	}
	s.TokenID = token.Int64
	s.CreatedAt, s.ExpiresAt, s.EndedAt = fromMicros(created), fromMicros(expires), fromNullMicros(ended)
	return &s, nil
}

// StartSession opens a web UI session for user, lasting lifetime, and
// audits it. secret is the cookie's value; only its hash is stored. A
// session opened with a token names it, and ends when that token stops
// being valid.
func (tx *Tx) StartSession(ctx context.Context, secret, user, method string, tokenID int64, lifetime time.Duration, remote string) (*shipgate.Session, error) {
	u, err := tx.FindUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		return nil, errBadSession
	}
	s := &shipgate.Session{User: user, Method: method, TokenID: tokenID, CreatedAt: tx.now, ExpiresAt: tx.now.Add(lifetime)}
	var token any
	if tokenID != 0 {
		token = tokenID
	}
	err = tx.queryRow(ctx, `INSERT INTO ui_sessions (hash, user_name, method, token_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		shipgate.HashToken(secret), user, method, token, micros(s.CreatedAt), micros(s.ExpiresAt)).Scan(&s.ID)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"user": user, "method": method, "expires_at": s.ExpiresAt.UTC().Format(time.RFC3339)}
	if tokenID != 0 {
		details["token_id"] = tokenID
	}
	if remote != "" {
		details["remote"] = remote
	}
	return s, tx.Audit(ctx, shipgate.NewAuditEvent(user, shipgate.ActionSessionStarted, shipgate.SessionSubject(s.ID), details))
}

// EndSession ends a session (logout) and audits it. Ending an ended
// session changes nothing.
func (tx *Tx) EndSession(ctx context.Context, actor string, id int64, why string) error {
	res, err := tx.exec(ctx, `UPDATE ui_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL`, micros(tx.now), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(actor, shipgate.ActionSessionEnded, shipgate.SessionSubject(id), map[string]any{"reason": why}))
}

// endUserSessions ends every open session of user (each audited): a
// disabled user's sessions end for good, and enabling the user again
// lets their tokens in, not the browsers logged in before.
func (tx *Tx) endUserSessions(ctx context.Context, actor, user, why string) error {
	rows, err := tx.query(ctx, `SELECT id FROM ui_sessions WHERE user_name = ? AND ended_at IS NULL`, user)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.EndSession(ctx, actor, id, why); err != nil {
			return err
		}
	}
	return nil
}

// AuthenticateSession finds the user of a session secret. The session must
// be open and unexpired, its user enabled, and the token it was opened with
// still valid (not revoked, not expired): revoking the token or disabling
// the user ends every session opened with it at once. The user's TokenID
// is the session's token.
func (db *DB) AuthenticateSession(ctx context.Context, secret string) (*shipgate.User, *shipgate.Session, error) {
	var u *shipgate.User
	var s *shipgate.Session
	err := db.View(ctx, func(tx *Tx) error {
		var err error
		s, err = scanSession(tx.queryRow(ctx, `SELECT `+sessionColumns+` FROM ui_sessions s WHERE s.hash = ?`, shipgate.HashToken(secret)))
		if err == sql.ErrNoRows {
			return errBadSession
		} else if err != nil {
			return err
		}
		if s.EndedAt != nil || !tx.now.Before(s.ExpiresAt) {
			return errBadSession
		}
		if s.TokenID != 0 {
			t, err := tx.FindToken(ctx, s.TokenID)
			if err != nil || t.State != shipgate.TokenActive || t.User != s.User {
				return errBadSession
			}
		}
		if u, err = tx.FindUser(ctx, s.User); err != nil {
			return errBadSession
		}
		if u.Disabled() {
			return errBadSession
		}
		u.TokenID = s.TokenID
		return nil
	})
	return u, s, err
}

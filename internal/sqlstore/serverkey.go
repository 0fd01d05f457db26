package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
)

// KeyMismatchError refuses a server whose key is not the one the
// database's servers use.
type KeyMismatchError struct {
	Name          string // which key: "secret"
	KeyID, Theirs string // this server's key id, the database's
	SetBy         string // the server that recorded the database's
	SetAt         time.Time
}

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("this server's %s key (id %s) is not the one this database's servers use (id %s, recorded %s by %s)",
		e.Name, e.KeyID, e.Theirs, e.SetAt.UTC().Format(time.RFC3339), e.SetBy)
}

// SharedKey checks that keyID is the identity of the key name that every
// server of the database shares: the first server records it; a server
// with another key is refused with a *KeyMismatchError, unless replace
// says the old key is lost for good (then keyID becomes the database's,
// audited). by names this server.
func (db *DB) SharedKey(ctx context.Context, name, keyID, by string, replace bool) error {
	return db.Update(ctx, func(tx *Tx) error {
		var theirs, setBy string
		var at int64
		err := tx.queryRow(ctx, `SELECT key_id, set_by, set_at FROM server_keys WHERE name = ?`, name).Scan(&theirs, &setBy, &at)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err := tx.exec(ctx, `INSERT INTO server_keys (name, key_id, set_by, set_at) VALUES (?, ?, ?, ?)`, name, keyID, by, micros(tx.now))
			return err
		case err != nil:
			return err
		case theirs == keyID:
			return nil
		case !replace:
			return &KeyMismatchError{Name: name, KeyID: keyID, Theirs: theirs, SetBy: setBy, SetAt: fromMicros(at)}
		}
		if _, err := tx.exec(ctx, `UPDATE server_keys SET key_id = ?, set_by = ?, set_at = ? WHERE name = ?`, keyID, by, micros(tx.now), name); err != nil {
			return err
		}
		return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionSharedKeyReplaced, shipgate.KeySubject(name), map[string]any{
			"old_key_id": theirs, "new_key_id": keyID, "server": by,
		}))
	})
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
)

// NoKeyRecorded is the key id SharedKey reports for a database that has
// sealed secret inputs but recorded no key (one created before keys were
// recorded), and what Replace must say to replace it.
const NoKeyRecorded = "none"

// KeyMismatchError refuses a server whose key is not the one the
// database's servers use.
type KeyMismatchError struct {
	Name          string // which key: "secret"
	KeyID, Theirs string // this server's key id, the database's (NoKeyRecorded)
	SetBy         string // the server that recorded the database's
	SetAt         time.Time
	// Unopenable, when no key is recorded, names the sealed secret this
	// server's key could not open.
	Unopenable string
}

func (e *KeyMismatchError) Error() string {
	if e.Theirs == NoKeyRecorded {
		return fmt.Sprintf("this server's %s key (id %s) cannot open the secret inputs already in this database (%s): they were sealed with another key",
			e.Name, e.KeyID, e.Unopenable)
	}
	return fmt.Sprintf("this server's %s key (id %s) is not the one this database's secret inputs are sealed with (id %s, recorded %s by %s)",
		e.Name, e.KeyID, e.Theirs, e.SetAt.UTC().Format(time.RFC3339), e.SetBy)
}

// SharedKey checks that keyID is the identity of the key name (the secret
// key) every server of the database shares, and records it if none is: a
// server with another key is refused with a *KeyMismatchError. A database
// with sealed secret inputs but no recorded key (created before keys were
// recorded) takes keyID only if opens opens one of them. replace, the id
// the refusal named (NoKeyRecorded when none was recorded), says the old
// key is lost for good: keyID then becomes the database's, audited. It is
// a compare-and-set, so a flag left in a unit file never swaps keys back
// and forth between servers. by names this server. It reports whether it
// replaced the key.
func (db *DB) SharedKey(ctx context.Context, name, keyID, by, replace string, opens func(name string, sealed []byte) error) (replaced bool, err error) {
	err = db.Update(ctx, func(tx *Tx) error {
		theirs, setBy, at := NoKeyRecorded, "", int64(0)
		err := tx.queryRow(ctx, `SELECT key_id, set_by, set_at FROM server_keys WHERE name = ?`, name).Scan(&theirs, &setBy, &at)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if theirs == keyID {
			return nil
		}
		mismatch := &KeyMismatchError{Name: name, KeyID: keyID, Theirs: theirs, SetBy: setBy, SetAt: fromMicros(at)}
		if !found {
			unopenable := ""
			var release int64
			var secret string
			var sealed []byte
			err := tx.queryRow(ctx, `SELECT release_id, name, sealed FROM release_secrets ORDER BY release_id DESC LIMIT 1`).Scan(&release, &secret, &sealed)
			switch {
			case errors.Is(err, sql.ErrNoRows): // nothing sealed yet: this key is the first
			case err != nil:
				return err
			case opens(secret, sealed) != nil:
				unopenable = fmt.Sprintf("release %d's %q", release, secret)
			}
			if unopenable != "" && replace != NoKeyRecorded {
				mismatch.Unopenable = unopenable
				return mismatch
			}
			if _, err := tx.exec(ctx, `INSERT INTO server_keys (name, key_id, set_by, set_at) VALUES (?, ?, ?, ?)`, name, keyID, by, micros(tx.now)); err != nil {
				return err
			}
			if unopenable == "" {
				return nil
			}
		} else if replace != theirs {
			return mismatch
		} else if _, err := tx.exec(ctx, `UPDATE server_keys SET key_id = ?, set_by = ?, set_at = ? WHERE name = ?`, keyID, by, micros(tx.now), name); err != nil {
			return err
		}
		replaced = true
		return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionSharedKeyReplaced, shipgate.KeySubject(name), map[string]any{
			"old_key_id": theirs, "new_key_id": keyID, "server": by,
		}))
	})
	return replaced, err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// sharedSecretKey refuses to start a server whose secret key is not the
// one the database's secret inputs are sealed with: with it, every job
// with a secret input would fail on this server's runner ("cannot be
// decrypted"), at random and long after the start, when several servers
// share the database. The first server of a database records its key's id;
// --replace-secret-key ID replaces a key lost for good.
func sharedSecretKey(ctx context.Context, db *sqlstore.DB, box *shipgate.SecretBox, cfg ServeConfig, logger *slog.Logger) error {
	host, _ := os.Hostname()
	opens := func(name string, sealed []byte) error { _, err := box.Open(name, sealed); return err }
	replaced, err := db.SharedKey(ctx, "secret", box.KeyID(), host+":"+cfg.DataDir, cfg.ReplaceSecretKey, opens)
	if replaced {
		logger.Warn("this server's secret key replaced the database's: secret inputs sealed with the old key can never be opened",
			"key_id", box.KeyID(), "replaced", cfg.ReplaceSecretKey)
	}
	var km *sqlstore.KeyMismatchError
	if !errors.As(err, &km) {
		return err
	}
	keyFile := filepath.Join(cfg.DataDir, "secret.key")
	if db.Engine() != "postgres" {
		return fmt.Errorf("%w. Start with the key this database was created with (SHIPGATE_SECRET_KEY, or the secret.key of its data directory, %s). "+
			"If that key is lost for good, start once with --replace-secret-key %s to seal with this one from now on; secret inputs sealed with the old key can then never be opened",
			km, keyFile, km.Theirs)
	}
	return fmt.Errorf("%w. Servers sharing a database must share the secret key: start this one with the same SHIPGATE_SECRET_KEY as the others (or copy their secret.key to %s). "+
		"If the key is lost for good, start once with --replace-secret-key %s to make this key the database's; secret inputs sealed with the old key can then never be opened",
		km, keyFile, km.Theirs)
}

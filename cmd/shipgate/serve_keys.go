package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// sharedSecretKey refuses to start a server whose secret key is not the
// one the database's servers seal secret inputs with: with it, a job
// would fail on whichever server's runner took it ("cannot be
// decrypted"), at random and long after the start. The first server of a
// database records its key's id; --new-secret-key replaces it.
func sharedSecretKey(ctx context.Context, db *sqlstore.DB, box *shipgate.SecretBox, cfg ServeConfig) error {
	host, _ := os.Hostname()
	err := db.SharedKey(ctx, "secret", box.KeyID(), host+":"+cfg.DataDir, cfg.NewSecretKey)
	var km *sqlstore.KeyMismatchError
	if !errors.As(err, &km) {
		return err
	}
	return fmt.Errorf("%w. Servers sharing a database must share the secret key: start this one with the same SHIPGATE_SECRET_KEY as the others (or copy their secret.key into %s). "+
		"If the key the database used is lost for good, start once with --new-secret-key to make this key the database's; secret inputs sealed with the old key can then never be opened",
		km, filepath.Join(cfg.DataDir, "secret.key"))
}

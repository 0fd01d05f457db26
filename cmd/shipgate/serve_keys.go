package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/checkpoint"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// sharedAuditKey refuses to start a server whose audit key is not the one
// a running server of the database signs checkpoints with: checkpoints
// signed by two keys fail `audit verify --checkpoint` with either public
// key, which reads as tampering. With no server running, another key is a
// rotation, and is only warned about (checkpoint.Signer.WarnOtherKey).
func sharedAuditKey(ctx context.Context, db *sqlstore.DB, key *shipgate.AuditSigner) error {
	newest, err := checkpoint.OtherKey(ctx, db, key)
	if err != nil || newest == nil {
		return err
	}
	live, err := db.LiveHolder(ctx, shipgate.LeaderLeaseName)
	if err != nil || live == "" {
		return err
	}
	return fmt.Errorf("this server's audit key (SHIPGATE_AUDIT_KEY or its --audit-key-file; key id %s) is not the one the running server %s signs checkpoints with (key id %s, checkpoint of seq %d): "+
		"servers sharing a database must share the audit key, or `audit verify --checkpoint` fails with either public key; to rotate the key, stop every server and start them with the new one",
		key.PublicKey().ID(), live, newest.KeyID, newest.Seq)
}

// sharedSecretKey refuses to start a server whose secret key is not the
// one the database's secret inputs are sealed with: with it, every job
// with a secret input would fail on this server's runner ("cannot be
// decrypted"), at random and long after the start, when several servers
// share the database. The first server of a database records its key's id;
// --replace-secret-key ID replaces a key lost for good.
func sharedSecretKey(ctx context.Context, db *sqlstore.DB, box *shipgate.SecretBox, cfg ServeConfig, fromEnv bool, logger *slog.Logger) error {
	host, _ := os.Hostname()
	if cfg.ReplaceSecretKey != "" {
		// A key is lost for good only when no server runs with it.
		live, err := db.LiveHolder(ctx, shipgate.LeaderLeaseName)
		if err != nil {
			return err
		}
		if live != "" {
			return fmt.Errorf("--replace-secret-key: server %s is running on this database, with the key it seals secret inputs with: start this one with that key instead (SHIPGATE_SECRET_KEY, or its data directory's secret.key); replace a key only when no server runs", live)
		}
	}
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
	source := "from " + keyFile
	if fromEnv {
		source = "from SHIPGATE_SECRET_KEY (which wins over " + keyFile + ")"
	}
	if db.Engine() != "postgres" {
		return fmt.Errorf("%w. This server's key comes %s: start with the key this database was created with. "+
			"If that key is lost for good, start once with --replace-secret-key %s to seal with this one from now on; secret inputs sealed with the old key can then never be opened",
			km, source, km.Theirs)
	}
	return fmt.Errorf("%w. This server's key comes %s. Servers sharing a database must share the secret key: give this one the key the others use (their SHIPGATE_SECRET_KEY, or their data directory's secret.key). "+
		"If the key is lost for good and no server runs, start once with --replace-secret-key %s to make this key the database's; secret inputs sealed with the old key can then never be opened",
		km, source, km.Theirs)
}

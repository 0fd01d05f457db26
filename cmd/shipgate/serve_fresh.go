package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/checkpoint"
	"github.com/shipgate/shipgate/internal/durable"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// checkStart checks, before serve creates anything, what can be checked
// without creating it: a failed first start must leave --data as it was
// (absent), not a store, a key and a lock nobody asked for.
func (m *Main) checkStart(ctx context.Context, cfg ServeConfig, dsn, auditKeyFile string) error {
	if t := m.Getenv("SHIPGATE_BOOTSTRAP_TOKEN"); t != "" && len(t) < 16 {
		return fmt.Errorf("SHIPGATE_BOOTSTRAP_TOKEN must be at least 16 characters")
	}
	if env := m.Getenv("SHIPGATE_SECRET_KEY"); env != "" {
		// Read from the variable only; the path is never used.
		if _, err := durable.HexKey("secret key", "SHIPGATE_SECRET_KEY", env, "", shipgate.SecretKeySize); err != nil {
			return err
		}
	}
	if err := checkAuditKey(m.Getenv("SHIPGATE_AUDIT_KEY"), auditKeyFile, cfg.DataDir); err != nil {
		return err
	}
	if strings.HasPrefix(dsn, "file:") {
		return fmt.Errorf("--database %q is a file: URI; give the SQLite file's path", dsn)
	}
	if path, ok := sqlstore.SQLitePath(dsn); ok {
		return checkDanglingLink(path)
	}
	// PostgreSQL: reachable, or --data is not made for it.
	return sqlstore.Ping(ctx, dsn)
}

// checkAuditKey checks the audit signing key serve will use: the
// variable's or an existing file's value is read now; a file to be
// created needs its directory (--data's is created by serve).
func checkAuditKey(env, path, dataDir string) error {
	if env != "" {
		_, err := checkpoint.LoadKey(env, "")
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		_, err := checkpoint.LoadKey("", path) // reads it, creates nothing
		return err
	}
	dir := filepath.Dir(path)
	if sameDir(dir, dataDir) {
		return nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--audit-key-file %s: the directory %s does not exist, so the key cannot be created there (nothing was created)", path, dir)
	}
	return nil
}

// freshPaths are the files and directories a start of serve creates, to
// remove when it fails before its store is ready. Only what did not exist
// is noted, and it is removed while the start still holds its locks, so
// it is never what another process made or uses.
type freshPaths struct{ paths []string }

// note records path, or the outermost of its missing parent directories,
// if path does not exist yet. Call it before creating path.
func (f *freshPaths) note(path string) {
	top := ""
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			break
		}
		top = p
		if filepath.Dir(p) == p {
			break
		}
	}
	if top != "" {
		f.paths = append(f.paths, top)
	}
}

// remove removes what was noted, the latest first.
func (f *freshPaths) remove() {
	for i := len(f.paths) - 1; i >= 0; i-- {
		os.RemoveAll(f.paths[i])
	}
	f.paths = nil
}

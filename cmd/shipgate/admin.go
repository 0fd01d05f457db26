package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/spf13/cobra"
)

func (m *Main) adminCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Offline maintenance of a store, with its server stopped"}
	cmd.AddCommand(m.adminResetTokenCommand())
	return cmd
}

// resetTokenResult is what admin reset-token prints with -o json.
type resetTokenResult struct {
	User    string  `json:"user"`
	Token   string  `json:"token"`
	TokenID int64   `json:"token_id"`
	Revoked []int64 `json:"revoked"`
}

func (m *Main) adminResetTokenCommand() *cobra.Command {
	var dataDir, database, userName, expiresIn string
	var revokeOthers bool
	cmd := &cobra.Command{
		Use:   "reset-token --data DIR [--database URL] [--user NAME] [--revoke-others]",
		Short: "Create a new admin token on a stopped server's store (lost or unknown admin token)",
		Long: `Create a new token for an admin directly in the store, for when no admin
token works any more: the bootstrap token was lost, or SHIPGATE_BOOTSTRAP_TOKEN
was set on a store that already had users and so was ignored.

The server must be stopped: the command refuses while a shipgate serve runs on
the store, and a server started meanwhile is refused until it is done. The
lock is looked for beside the SQLite database opened (--data's shipgate.db,
or a --database path, wherever it is, with symbolic links resolved), and the
database file itself is locked too, so a hard or symbolic link to a running
server's database is refused. With PostgreSQL (--database, as given to
serve), stop every server sharing the database; only the one on --data can be
detected.

It never creates a store: a database file that does not exist, a database
without shipgate's tables, or a file: URI (give the path) is refused.

The token is printed once, on standard output. The admin's other tokens keep
working unless --revoke-others is given (do that when a token may have
leaked). Everything is audited at once, in the same transaction, under the
actor "local:reset-token": token.created, token.revoked for each token revoked,
and token.reset with the host and OS user that ran the command.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var lifetime shipgate.Duration
			if expiresIn != "" {
				d, err := shipgate.ParseDuration(expiresIn)
				if err != nil || d.Std() <= 0 {
					return fmt.Errorf("--expires-in %q is not a positive duration (e.g. 24h or 30d)", expiresIn)
				}
				lifetime = d
			}
			asJSON, err := m.jsonOutput()
			if err != nil {
				return err
			}
			res, err := m.resetToken(cmd.Context(), dataDir, database, userName, revokeOthers, lifetime)
			if err != nil {
				return err
			}
			if asJSON {
				return m.printJSON(res)
			}
			fmt.Fprintln(m.Stdout, res.Token)
			fmt.Fprintf(m.Stderr, "new admin token for %q above (token %d), shown only this once; audited as token.reset by %s\n", res.User, res.TokenID, shipgate.ResetTokenActor)
			if len(res.Revoked) > 0 {
				fmt.Fprintf(m.Stderr, "revoked the other tokens of %q: %v\n", res.User, res.Revoked)
			} else if !revokeOthers {
				fmt.Fprintf(m.Stderr, "the other tokens of %q still work; give --revoke-others if one may have leaked\n", res.User)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "./shipgate-data", "the server's data directory (as given to serve)")
	f.StringVar(&database, "database", "", "the server's --database, if serve runs with one: a PostgreSQL URL or a SQLite file path (not a file: URI)")
	f.StringVar(&userName, "user", "", `the admin to give a token (default "admin", or the only admin)`)
	f.BoolVar(&revokeOthers, "revoke-others", false, "revoke the user's other tokens")
	f.StringVar(&expiresIn, "expires-in", "", "how long the token works, e.g. 24h or 30d (default: never)")
	m.addOutputFlag(cmd)
	return cmd
}

// resetToken gives an admin a new token in one transaction, with its
// audit events, while holding the data directory's lock so that no
// server runs on it meanwhile.
func (m *Main) resetToken(ctx context.Context, dataDir, database, userName string, revokeOthers bool, lifetime shipgate.Duration) (*resetTokenResult, error) {
	dsn := database
	if dsn == "" {
		dsn = filepath.Join(dataDir, "shipgate.db")
	}
	// The lock is taken where the database actually opened is: beside a
	// SQLite file (serve takes it there too, whatever its --data), else in
	// --data, when there is one here.
	lockDir := dataDir
	if strings.HasPrefix(dsn, "file:") {
		return nil, fmt.Errorf("--database %q is a file: URI; give the SQLite file's path, as serve takes it", dsn)
	}
	if path, ok := sqlstore.SQLitePath(dsn); ok {
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			if database == "" {
				return nil, fmt.Errorf("no shipgate store in %s (%s does not exist); give the --data of the server, or --database for PostgreSQL", dataDir, dsn)
			}
			return nil, fmt.Errorf("no shipgate store at %s: the file does not exist (nothing was created); give the --database of the server", dsn)
		}
		if err := checkDanglingLink(path); err != nil {
			return nil, err
		}
		// serve.lock counts beside the real file, not beside a link to it.
		lockDir = filepath.Dir(resolvePath(path))
	} else if _, err := os.Stat(dataDir); err != nil {
		lockDir = "" // no data directory here: nothing to lock
	}
	if lockDir != "" {
		unlock, err := lockStore(lockDir, "shipgate admin reset-token")
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	if path, ok := sqlstore.SQLitePath(dsn); ok {
		// The database file itself, as serve holds it: a hard link
		// elsewhere reaches a running server's store without its
		// serve.lock. Released after the database is closed (below).
		unlockFile, err := lockDatabaseFile(path, false)
		if err != nil {
			return nil, err
		}
		defer unlockFile()
	}
	// Never a new store: a database without shipgate's tables is refused
	// as it is.
	db, err := sqlstore.OpenExisting(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	secret := shipgate.NewTokenSecret()
	res := &resetTokenResult{Token: secret, Revoked: []int64{}}
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		name, err := resetTokenUser(ctx, tx, userName)
		if err != nil {
			return err
		}
		res.User = name
		if revokeOthers {
			tokens, err := tx.ListTokens(ctx, name)
			if err != nil {
				return err
			}
			for _, t := range tokens {
				if t.RevokedAt != nil {
					continue
				}
				if err := tx.RevokeToken(ctx, shipgate.ResetTokenActor, t.ID); err != nil {
					return err
				}
				res.Revoked = append(res.Revoked, t.ID)
			}
		}
		t, err := tx.IssueToken(ctx, shipgate.ResetTokenActor, name, "reset-token", secret, lifetime.Std())
		if err != nil {
			return err
		}
		res.TokenID = t.ID
		host, _ := os.Hostname()
		osUser := ""
		if u, err := user.Current(); err == nil {
			osUser = u.Username
		}
		return tx.Audit(ctx, shipgate.NewAuditEvent(shipgate.ResetTokenActor, shipgate.ActionTokenReset, shipgate.UserSubject(name), map[string]any{
			"token_id": t.ID, "prefix": t.Prefix, "revoked": res.Revoked, "host": host, "os_user": osUser,
		}))
	})
	if err != nil {
		return nil, fmt.Errorf("reset-token: %s (nothing was changed)", shipgate.ErrorMessage(err))
	}
	return res, nil
}

// resetTokenUser is the admin reset-token gives a token: name, which must
// be an enabled admin, or by default "admin", or else the only admin.
func resetTokenUser(ctx context.Context, tx *sqlstore.Tx, name string) (string, error) {
	users, err := tx.ListUsers(ctx)
	if err != nil {
		return "", err
	}
	var admins []string
	for _, u := range users {
		if slices.Contains(u.Roles, shipgate.RoleAdmin) && !u.Disabled() {
			admins = append(admins, u.Name)
		}
	}
	if len(users) == 0 {
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the store has no users yet: start the server once, it creates the admin")
	}
	switch {
	case name != "":
		if !slices.Contains(admins, name) {
			if _, err := tx.FindUser(ctx, name); err != nil {
				return "", err
			}
			return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "user %q is not an enabled admin (admins: %s)", name, joinOrNone(admins))
		}
		return name, nil
	case slices.Contains(admins, "admin"):
		return "admin", nil
	case len(admins) == 1:
		return admins[0], nil
	case len(admins) == 0:
		return "", shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "the store has no enabled admin")
	}
	return "", shipgate.Errorf(shipgate.EINVALID, "several admins (%s): choose one with --user", strings.Join(admins, ", "))
}

// lockDatabaseDir takes serve's lock also in the directory of its
// SQLite database, when that is not dataDir (--database elsewhere): admin
// reset-token looks for the lock beside the database it opens. unlock is a
// no-op when there is nothing more to lock.
func lockDatabaseDir(dsn, dataDir string) (unlock func(), err error) {
	path, ok := sqlstore.SQLitePath(dsn)
	if !ok {
		return func() {}, nil
	}
	dir := filepath.Dir(resolvePath(path)) // beside the real file, not beside a link to it
	if sameDir(dir, dataDir) {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	return lockStore(dir, "shipgate serve (its --database directory)")
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(fa, fb)
}

// lockStore takes the lock of a data directory, serve.lock, exclusively:
// one server runs on a data directory, and admin reset-token never runs
// beside it. It refuses at once when the lock is held, naming the holder
// (who, as written into the file by the process holding it, with its pid).
func lockStore(dataDir, who string) (unlock func(), err error) {
	f, err := flockFile(filepath.Join(dataDir, "serve.lock"), os.O_RDWR|os.O_CREATE)
	if err != nil {
		var held *heldError
		if !errors.As(err, &held) {
			return nil, fmt.Errorf("lock the data directory: %w", err)
		}
		holder, _ := io.ReadAll(io.LimitReader(held.f, 200))
		held.f.Close()
		if r, err := filepath.EvalSymlinks(dataDir); err == nil && r != filepath.Clean(dataDir) {
			dataDir = r // name the real directory, not a link to it
		}
		h := strings.TrimSpace(string(holder))
		if strings.HasPrefix(h, "shipgate admin reset-token") {
			return nil, fmt.Errorf("shipgate admin reset-token is running on %s (%s): wait for it to finish", dataDir, h)
		}
		if h != "" {
			h = " (" + h + ")"
		}
		todo := "stop it first, or give this server another --data directory"
		if !strings.HasPrefix(who, "shipgate serve") {
			todo = "stop it first (" + who + " works only on a stopped server's store)"
		}
		return nil, fmt.Errorf("a shipgate server is already running on %s%s: %s", dataDir, h, todo)
	}
	// Who holds it, for whoever is refused next; the lock is what counts.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(fmt.Sprintf("%s, pid %d\n", who, os.Getpid())), 0)
	}
	return func() { f.Close() }, nil
}

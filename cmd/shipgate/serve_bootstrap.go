package main

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// bootstrap creates the first admin on an empty store. It runs in one
// transaction, so two servers starting on one database cannot both do it.
// The bootstrap token obeys the maximum token lifetime like any other.
//
// resetCmd is the admin reset-token command line for this store, for
// the warning when SHIPGATE_BOOTSTRAP_TOKEN is set on a filled store.
func (m *Main) bootstrap(ctx context.Context, db *sqlstore.DB, maxTokenLifetime time.Duration, resetCmd string) error {
	secret := m.Getenv("SHIPGATE_BOOTSTRAP_TOKEN")
	fromEnv := secret != ""
	if fromEnv && len(secret) < 16 {
		return fmt.Errorf("SHIPGATE_BOOTSTRAP_TOKEN must be at least 16 characters")
	}
	if !fromEnv {
		secret = shipgate.NewTokenSecret()
	}
	created := false
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		n, err := tx.CountUsers(ctx)
		if err != nil || n > 0 {
			return err
		}
		admin := &shipgate.User{Name: "admin", Roles: []shipgate.Role{shipgate.RoleAdmin}}
		if err := tx.CreateUser(ctx, shipgate.SystemActor, admin); err != nil {
			return err
		}
		if _, err := tx.IssueToken(ctx, shipgate.SystemActor, "admin", "bootstrap", secret, maxTokenLifetime); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if created {
		if fromEnv {
			fmt.Fprintln(m.Stdout, "bootstrap admin token: (the value of SHIPGATE_BOOTSTRAP_TOKEN)")
		} else {
			fmt.Fprintln(m.Stdout, "bootstrap admin token: "+secret)
		}
		return nil
	}
	// A store that has users ignores the variable. Say so, or whoever set
	// it (a quickstart on a data directory an earlier start filled) only
	// learns it from a 401 later; and say what to do when its value is
	// not a working token.
	if fromEnv {
		const ignored = "warning: SHIPGATE_BOOTSTRAP_TOKEN is ignored: the store already has users (it is read only on the first start of an empty store)"
		u, _, err := db.Authenticate(ctx, secret)
		switch {
		case err == nil:
			fmt.Fprintf(m.Stderr, "%s; its value is a token of %q, so it still works\n", ignored, u.Name)
		case shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED:
			fmt.Fprintf(m.Stderr, "%s, and its value is none of their tokens. Use an existing admin's token; or start on an empty --data directory; or, to recover admin access, stop this server and run: %s\n", ignored, resetCmd)
		}
	}
	return nil
}

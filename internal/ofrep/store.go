package ofrep

import (
	"context"
	"log/slog"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Store reads flags and SDK keys from the server's database: the Loader
// and KeyLoader of a server.
type Store struct{ DB *sqlstore.DB }

// FlagGeneration implements Loader.
func (s Store) FlagGeneration(ctx context.Context, env string) (g int64, err error) {
	err = s.DB.View(ctx, func(tx *sqlstore.Tx) error {
		g, err = tx.FlagGeneration(ctx, env)
		return err
	})
	return g, err
}

// EnvFlags implements Loader.
func (s Store) EnvFlags(ctx context.Context, env string) (fs []shipgate.FlagState, g int64, err error) {
	err = s.DB.View(ctx, func(tx *sqlstore.Tx) error {
		fs, g, err = tx.EnvFlags(ctx, env)
		return err
	})
	return fs, g, err
}

// ActiveKeys implements KeyLoader.
func (s Store) ActiveKeys(ctx context.Context) ([]Key, error) {
	var out []Key
	err := s.DB.View(ctx, func(tx *sqlstore.Tx) error {
		ks, err := tx.ActiveSDKKeys(ctx)
		for _, k := range ks {
			out = append(out, Key(k))
		}
		return err
	})
	return out, err
}

// TouchKey implements KeyLoader.
func (s Store) TouchKey(ctx context.Context, id int64, at time.Time) error {
	return s.DB.Update(ctx, func(tx *sqlstore.Tx) error { return tx.TouchSDKKey(ctx, id, at) })
}

// ForDB returns the OFREP handler of a server over its database, with the
// caches it needs.
func ForDB(db *sqlstore.DB, logger *slog.Logger) *Handler {
	st := Store{DB: db}
	return New(&Handler{
		Source: &Cache{Loader: st, Changed: db.FlagEpoch},
		Auth:   &Keys{Loader: st, Changed: db.SDKKeyEpoch, Logger: logger},
		Logger: logger,
	})
}

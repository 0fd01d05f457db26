package sqlstore

import (
	"context"

	"github.com/shipgate/shipgate"
)

// DecodedReleases counts the releases' frozen contents FindRelease decoded.
func (db *DB) DecodedReleases() int64 { return db.releaseDecodes.Load() }

// ApplyFlagChangeForTest exposes the one writer of flag changes.
func ApplyFlagChangeForTest(tx *Tx, c *shipgate.FlagChange) error {
	return tx.applyFlagChange(context.Background(), c, "")
}

package sqlstore

import (
	"context"

	"github.com/shipgate/shipgate"
)

// ReleaseWithFlagsForTest stores a copy of release r that declares flags,
// as "release create --flag" makes (slice C), and returns it.
func ReleaseWithFlagsForTest(tx *Tx, r *shipgate.Release, flags []string) (*shipgate.Release, error) {
	c := *r
	c.ID, c.Flags = 0, flags
	return &c, tx.insertRelease(context.Background(), &c)
}

package sqlstore

import (
	"context"

	"github.com/shipgate/shipgate"
)

// ListEvidence returns the evidence attached to a release, oldest first.
// (Issue 14: a stub until the evidence slice adds its table.)
func (tx *Tx) ListEvidence(ctx context.Context, releaseID int64) ([]shipgate.Evidence, error) {
	return nil, nil
}

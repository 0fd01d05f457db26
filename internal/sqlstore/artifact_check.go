package sqlstore

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate"
)

// UnavailableArtifactError is a rollback refused because the artifact of
// the version it would restore cannot be deployed: gone from the artifact
// store, changed, or its file no longer there. It is a failed_precondition
// for every layer; Of and Target say which rollback it was.
type UnavailableArtifactError struct {
	Of, Target int64
	Version    string
	Reason     string
}

func (e *UnavailableArtifactError) Error() string {
	return fmt.Sprintf("cannot roll back to version %s (release %d): its artifact is unavailable: %s", e.Version, e.Target, e.Reason)
}

// Unwrap makes the refusal a failed_precondition.
func (e *UnavailableArtifactError) Unwrap() error {
	return &shipgate.Error{Code: shipgate.EFAILEDPRECONDITION, Message: e.Error()}
}

// CheckArtifact asks DB.ArtifactCheck whether the artifact target pins can
// still be deployed, for a rollback of of: an *UnavailableArtifactError
// when it cannot, else a note (empty unless something could not be
// checked). Without an ArtifactCheck it checks nothing.
func (tx *Tx) CheckArtifact(ctx context.Context, of, target *shipgate.Release) (string, error) {
	if tx.db.ArtifactCheck == nil {
		return "", nil
	}
	note, err := tx.db.ArtifactCheck(ctx, target.Artifact)
	if err == nil {
		return note, nil
	}
	if code := shipgate.ErrorCode(err); code == shipgate.EINTERNAL || ctx.Err() != nil {
		return "", err // the check itself failed: not a verdict on the artifact
	}
	return "", &UnavailableArtifactError{Of: of.ID, Target: target.ID, Version: target.Version, Reason: shipgate.ErrorMessage(err)}
}

package shipgate

import "fmt"

// RefusedRollbackError is a rollback refused before anything was created,
// for a reason other than its artifact (see UnavailableArtifactError): the
// version it would restore never succeeded in the environment, or its
// pipeline can no longer run. It is a failed_precondition for every layer;
// Of says which release was to be rolled back, Target (0 when none was
// found) and Version what it would have restored.
type RefusedRollbackError struct {
	Of, Target int64
	Version    string
	Reason     string
}

func (e *RefusedRollbackError) Error() string { return e.Reason }

// Unwrap makes the refusal a failed_precondition.
func (e *RefusedRollbackError) Unwrap() error {
	return &Error{Code: EFAILEDPRECONDITION, Message: e.Reason}
}

// NeverSucceededHere is the reason a rollback to version is refused when no
// release of it succeeded in env: a rollback skips approval, deploy windows
// and the canary because it restores what already ran there, so anything
// else is a new deploy.
func NeverSucceededHere(version, env string) string {
	return fmt.Sprintf("%s never succeeded in %s; deploy it with `shipgate release create`", version, env)
}

// CheckRollbackTarget refuses to restore target for a rollback of of
// unless target is a release of the same service that succeeded in the
// same environment (it may have been rolled back since).
func CheckRollbackTarget(of, target *Release) error {
	if target.Service == of.Service && target.Environment == of.Environment && target.SucceededAt != nil {
		return nil
	}
	return &RefusedRollbackError{Of: of.ID, Target: target.ID, Version: target.Version,
		Reason: fmt.Sprintf("cannot roll back to release %d: %s", target.ID, NeverSucceededHere(target.Version, of.Environment))}
}

// CheckRequires refuses a release of version (with artifact sha256) to env
// unless it has succeeded in every environment env requires first;
// succeeded says, for each required environment, whether it has.
func CheckRequires(env *Environment, version, sha string, succeeded map[string]bool) error {
	for _, req := range env.Requires {
		if !succeeded[req] {
			return Errorf(EFAILEDPRECONDITION, "%s requires that version %s (artifact sha256 %s…) has succeeded in %s first, and it has not", env.Name, version, sha[:min(12, len(sha))], req)
		}
	}
	return nil
}

// SkipsApproval reports whether the release needs no approval: a rollback
// release restoring a version approved and succeeded in its environment
// before (ApprovalSkipped says so).
func (r *Release) SkipsApproval() bool {
	return r.Kind == ReleaseKindRollback && r.ApprovalSkipped != ""
}

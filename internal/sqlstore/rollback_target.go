package sqlstore

import "github.com/shipgate/shipgate"

// RefusedRollbackError is shipgate.RefusedRollbackError.
type RefusedRollbackError = shipgate.RefusedRollbackError

// NeverSucceededHere is shipgate.NeverSucceededHere.
func NeverSucceededHere(version, env string) string { return shipgate.NeverSucceededHere(version, env) }

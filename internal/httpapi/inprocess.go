package httpapi

import (
	"context"
	"net/http"

	"github.com/shipgate/shipgate"
)

// callerKey carries a caller authenticated by another front end of this
// server (the web UI's session) into the API's routes.
type callerKey struct{}

// AsUser returns a context in which API requests act as u, already
// authenticated (by a web UI session). Only code in this process can set
// it: a request from the network never carries it. Every other rule —
// the route's permission, separation of duties, digest binding, size
// limits, refusals written to the audit log — applies as to a token.
func AsUser(ctx context.Context, u *shipgate.User) context.Context {
	return context.WithValue(ctx, callerKey{}, u)
}

// callerFrom is the user AsUser put in ctx, if any.
func callerFrom(ctx context.Context) (*shipgate.User, bool) {
	u, ok := ctx.Value(callerKey{}).(*shipgate.User)
	return u, ok && u != nil
}

// AuditRefusal writes a refusal the API did not make itself (a web UI
// form without its CSRF token, a failed login) to the audit log the way
// the API writes its own: counted per caller, route and minute.
func (h *Handler) AuditRefusal(r *http.Request, u *shipgate.User, err error) error {
	return h.auditRefusal(r, u, shipgate.ErrorCode(err), shipgate.ErrorMessage(err))
}

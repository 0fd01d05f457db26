package httpapi

import (
	"net/http"
	"strconv"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/bundle"
)

func (h *Handler) bundleRoutes() []Route {
	return []Route{
		route("GET", "/api/v1/releases/{id}/bundle", shipgate.PermRead, "The signed evidence bundle of a release", h.releaseBundle),
	}
}

// releaseBundle answers the release's evidence bundle. Any reader may
// have it, as any reader may ask for a checkpoint: an auditor needs no
// other permission. The body is written as built, byte for byte, since
// verify-bundle accepts only that form.
func (h *Handler) releaseBundle(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	s, err := h.signer()
	if err != nil {
		return err
	}
	b, err := bundle.Build(r.Context(), h.DB, s, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}
